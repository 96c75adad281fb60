"""An app that logs its users in here (an OpenID Connect relying party), as tests drive it."""
import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from app.extensions import db
from app.provider import clients


@pytest.fixture(autouse=True)
def plain_http_allowed(monkeypatch):
    # The test servers speak http on loopback; production refuses this (app/config.py).
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def keys_file(tmp_path):
    return tmp_path / "oidc_keys.json"


@pytest.fixture
def config(config, keys_file):
    return {**config, "OIDC_KEYS_FILE": str(keys_file)}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class RelyingParty:
    """A registered app: builds authorize URLs, redeems codes, calls userinfo (through `http`)."""

    def __init__(self, http, client_id, client_secret, redirect_uri):
        self.http, self.client_id, self.client_secret, self.redirect_uri = http, client_id, client_secret, redirect_uri
        self.verifier, self.challenge = pkce_pair()
        self.state, self.nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)

    def authorize_url(self, scope="openid profile", pkce=True, **extra) -> str:
        params = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                  "scope": scope, "state": self.state, "nonce": self.nonce}
        if pkce:
            params.update(code_challenge=self.challenge, code_challenge_method="S256")
        params.update(extra)
        return "/oauth/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})

    def _auth(self, data):
        if self.client_secret is None:
            return {**data, "client_id": self.client_id}, {}
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        return data, {"Authorization": f"Basic {basic}"}

    def redeem(self, code, verifier=None, redirect_uri=None):
        data = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": redirect_uri or self.redirect_uri, "code_verifier": verifier or self.verifier}
        data, headers = self._auth(data)
        return self.http.post("/oauth/token", data=data, headers=headers)

    def refresh(self, refresh_token):
        data, headers = self._auth({"grant_type": "refresh_token", "refresh_token": refresh_token})
        return self.http.post("/oauth/token", data=data, headers=headers)

    def revoke(self, token):
        data, headers = self._auth({"token": token})
        return self.http.post("/oauth/revoke", data=data, headers=headers)

    def userinfo(self, access_token):
        return self.http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def redirect_params(response) -> dict:
    """The query parameters of a redirect to the app."""
    assert response.status_code == 302, response.get_data(as_text=True)
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


@pytest.fixture
def register(app):
    """Register an app; returns a RelyingParty for it (talking to `app` through a test client)."""

    def register_(name="Grafana", redirect_uri="https://grafana.example.test/login", public=False, **options):
        with app.app_context():
            client, secret = clients.add(name, [redirect_uri], options.pop("post_logout", []), public=public, **options)
            db.session.commit()
            return RelyingParty(app.test_client(), client.client_id, secret, redirect_uri)

    return register_


def scan_login(browser, phone, authorize_url: str):
    """The person opens the app's login link: QR page, scan, confirm; returns the answer that goes back to the app."""
    response = browser.get(authorize_url)
    assert response.status_code == 302, response.get_data(as_text=True)
    login_page = response.headers["Location"]
    assert login_page.startswith("/login?authorize="), login_page
    request_id = login_page.split("=", 1)[1]
    page = browser.get(login_page)
    assert page.status_code == 200
    created = browser.post("/api/tickets", json={"authorization_request": request_id})
    assert created.status_code == 201, created.get_json()
    ticket_id = created.get_json()["ticket_id"]
    scanned = phone.scan(ticket_id)
    assert scanned.status_code == 200, scanned.get_json()
    assert phone.confirm(ticket_id).status_code == 200
    assert browser.get(f"/api/tickets/{ticket_id}").get_json()["status"] == "confirmed"
    return browser.get(f"/oauth/authorize/resume/{request_id}")
