"""A Node app using openid-client (a certified relying party library): discovery, code + PKCE,
id_token validated against the JWKS, userinfo, refresh, end_session."""
import json
import os
import subprocess
from pathlib import Path

import pytest

from bench.live_server import BaseUrlSession

from ..support.live import LivePhone, require_tool
from .relying_parties import add_client

NODE_APP = Path(__file__).parent / "node"


@pytest.fixture
def node_app():
    require_tool("node", "install Debian's nodejs")
    if not (NODE_APP / "node_modules" / "openid-client").exists():
        require_tool("npm", "install Debian's npm")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=NODE_APP, check=True, capture_output=True)
    return NODE_APP / "login.mjs"


def test_openid_client_logs_in_refreshes_and_logs_out(start_live_server, node_app, tmp_path):
    service = start_live_server(AUTHLIB_INSECURE_TRANSPORT="1", OIDC_KEYS_FILE=tmp_path / "keys.json")
    redirect_uri, bye = "http://localhost:4000/callback", "http://localhost:4000/bye"
    client = add_client(service, "--name", "Node app", "--redirect-uri", redirect_uri,
                        "--post-logout-redirect-uri", bye)
    env = {**os.environ, "ISSUER": service.url, "CLIENT_ID": client["client_id"],
           "CLIENT_SECRET": client["client_secret"], "REDIRECT_URI": redirect_uri, "POST_LOGOUT_URI": bye}
    node = subprocess.Popen(["node", str(node_app)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        authorization_url = json.loads(node.stdout.readline())["authorization_url"]

        browser = BaseUrlSession(service.url)
        login_page = browser.get(authorization_url.removeprefix(service.url), allow_redirects=False).headers["Location"]
        request_id = login_page.split("authorize=", 1)[1]
        ticket_id = browser.post("/api/tickets", json={"authorization_request": request_id}).json()["ticket_id"]
        phone = LivePhone(service, "node-user").login()
        phone.set_profile(nickname="Nora")
        assert phone.scan(ticket_id).json()["app"]["name"] == "Node app"
        phone.confirm(ticket_id)
        assert browser.get(f"/api/tickets/{ticket_id}").json()["status"] == "confirmed"
        callback = browser.get(f"/oauth/authorize/resume/{request_id}", allow_redirects=False).headers["Location"]

        out, err = node.communicate(callback + "\n", timeout=30)
        assert node.returncode == 0, err
    finally:
        if node.poll() is None:
            node.kill()
    result = json.loads(out.strip().splitlines()[-1])
    assert result["claims"]["iss"] == service.url and result["claims"]["aud"] == client["client_id"]
    assert result["claims"]["sub"].startswith("u_") and result["claims"]["amr"] == ["swk", "user"]
    assert result["userinfo"] == {"sub": result["claims"]["sub"], "name": "Nora"}
    assert result["refreshed"]["rotated"] is True

    logout = browser.get(result["end_session_url"].removeprefix(service.url), allow_redirects=False)
    assert logout.status_code == 302 and logout.headers["Location"] == bye + "?state=bye"
    assert browser.get("/api/me").status_code == 401
