"""A Flask site using Authlib's client logs a person in through the scan."""
from bench.live_server import BaseUrlSession

from ..support.live import LivePhone
from .flask_site import create_site
from .relying_parties import add_client


def test_a_flask_site_logs_the_person_in(start_live_server, tmp_path):
    service = start_live_server(AUTHLIB_INSECURE_TRANSPORT="1", OIDC_KEYS_FILE=tmp_path / "keys.json")
    client = add_client(service, "--name", "Flask site", "--redirect-uri", "http://localhost/callback")
    site = create_site(service.url, client["client_id"], client["client_secret"]).test_client()

    to_service = site.get("/login").headers["Location"]
    browser = BaseUrlSession(service.url)
    request_id = browser.get(to_service.removeprefix(service.url), allow_redirects=False
                             ).headers["Location"].split("authorize=", 1)[1]
    ticket_id = browser.post("/api/tickets", json={"authorization_request": request_id}).json()["ticket_id"]
    phone = LivePhone(service, "flask-user").login()
    phone.set_profile(nickname="Fang")
    phone.scan(ticket_id)
    phone.confirm(ticket_id)
    browser.get(f"/api/tickets/{ticket_id}")
    back = browser.get(f"/oauth/authorize/resume/{request_id}", allow_redirects=False).headers["Location"]
    assert back.startswith("http://localhost/callback?code=")

    assert site.get(back.removeprefix("http://localhost")).status_code == 302
    home = site.get("/").get_data(as_text=True)
    assert home.startswith("Hello Fang (u_")
