"""Registering apps from the command line, the signing keys, races, and what production refuses."""
import json
import threading

import pytest
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import KeySet

from app import create_app
from app.config import ConfigError
from app.extensions import db

from .conftest import redirect_params, scan_login


def run(app, *args):
    result = app.test_cli_runner().invoke(args=["oidc", *args])
    return result.exit_code, result.output


def test_add_client_prints_the_secret_once_and_stores_only_its_hash(app):
    code, out = run(app, "add-client", "--name", "Grafana", "--redirect-uri", "https://grafana.example.test/login",
                    "--redirect-uri", "https://grafana.example.test/alt", "--allowed-group", "ops")
    assert code == 0, out
    client = json.loads(out)
    assert client["redirect_uris"] == ["https://grafana.example.test/login", "https://grafana.example.test/alt"]
    assert client["allowed_groups"] == ["ops"] and client["public"] is False
    with app.app_context():
        dump = json.dumps([list(r) for r in db.session.execute(sa.text("SELECT * FROM oidc_clients"))], default=str)
    assert client["client_secret"] not in dump

    code, listed = run(app, "list")
    assert code == 0 and "client_secret" not in listed and json.loads(listed)[0]["client_id"] == client["client_id"]
    code, shown = run(app, "show", client["client_id"])
    assert json.loads(shown)["name"] == "Grafana"


def test_rotate_secret_replaces_the_old_secret(app, browser):
    _, out = run(app, "add-client", "--name", "Wiki", "--redirect-uri", "https://wiki.example.test/cb")
    client = json.loads(out)
    code, rotated = run(app, "rotate-secret", client["client_id"])
    assert code == 0
    new_secret = json.loads(rotated)["client_secret"]
    assert new_secret != client["client_secret"]
    for secret, status in ((client["client_secret"], 401), (new_secret, 400)):  # 400: right secret, no code
        answer = browser.post("/oauth/token", data={"grant_type": "authorization_code", "code": "nope",
                                                    "redirect_uri": "https://wiki.example.test/cb"},
                              auth=(client["client_id"], secret))
        assert answer.status_code == status, answer.get_json()


@pytest.mark.parametrize("args, message", [
    (["add-client", "--name", "X", "--redirect-uri", "ftp://x.example.test/"], "absolute http(s) URL"),
    (["add-client", "--name", "X", "--redirect-uri", "http://x.example.test/cb"], "must use https"),
    (["add-client", "--name", "X", "--redirect-uri", "https://x.example.test/cb#frag"], "fragment"),
    (["add-client", "--name", "", "--redirect-uri", "https://x.example.test/cb"], "--name"),
    (["show", "nope"], "No app with client_id 'nope'"),
    (["remove", "nope"], "No app"),
    (["rotate-secret", "nope"], "No app"),
])
def test_bad_input_is_one_clear_line_and_a_failure(app, args, message):
    code, out = run(app, *args)
    assert code == 1
    assert message in out and "Traceback" not in out and len(out.strip().splitlines()) == 1


def test_a_public_client_has_no_secret_to_rotate(app):
    _, out = run(app, "add-client", "--name", "SPA", "--redirect-uri", "http://localhost:3000/cb", "--public")
    client = json.loads(out)
    assert "client_secret" not in client and client["public"] is True
    code, out = run(app, "rotate-secret", client["client_id"])
    assert code == 1 and "public client" in out


def test_removing_an_app_ends_its_tokens(app, browser, phone, register):
    app_ = register()
    code = redirect_params(scan_login(browser, phone, app_.authorize_url()))["code"]
    token = app_.redeem(code).get_json()["access_token"]
    assert run(app, "remove", app_.client_id)[0] == 0
    assert app_.userinfo(token).status_code == 401


# --- keys -----------------------------------------------------------------------------

def test_keys_survive_a_restart_and_rotation_keeps_the_old_key_published(config, browser, phone, register, app):
    app_ = register()
    first = app_.redeem(redirect_params(scan_login(browser, phone, app_.authorize_url()))["code"]).get_json()
    old_kid = jwt.decode(first["id_token"], KeySet.import_key_set(browser.get("/oauth/jwks").get_json())).header["kid"]

    restarted = create_app(config)
    assert restarted.test_client().get("/oauth/jwks").get_json() == browser.get("/oauth/jwks").get_json()

    code, out = run(app, "rotate-key")
    assert code == 0
    rotated = json.loads(out)
    assert rotated["signing_kid"] != old_kid and old_kid in rotated["published_kids"]
    published = browser.get("/oauth/jwks").get_json()
    assert {k["kid"] for k in published["keys"]} == set(rotated["published_kids"])
    assert all("d" not in k for k in published["keys"])  # never a private part

    again = app_.redeem(redirect_params(scan_login(browser, phone, app_.authorize_url(prompt="login")))["code"])
    new = jwt.decode(again.get_json()["id_token"], KeySet.import_key_set(published))
    assert new.header["kid"] == rotated["signing_kid"]
    jwt.decode(first["id_token"], KeySet.import_key_set(published))  # the old one still verifies


# --- a code redeemed by many at once ---------------------------------------------------

def test_sixteen_concurrent_redemptions_yield_exactly_one_token(app, browser, phone, register, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the race needs a server database; SQLite serialises every writer")
    app_ = register()
    code = redirect_params(scan_login(browser, phone, app_.authorize_url()))["code"]
    barrier = threading.Barrier(16)
    statuses = []

    def redeem():
        http = app.test_client()
        barrier.wait()
        statuses.append(app_.__class__(http, app_.client_id, app_.client_secret, app_.redirect_uri)
                        .redeem(code, verifier=app_.verifier).status_code)

    threads = [threading.Thread(target=redeem) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [400] * 15
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT count(*) FROM oidc_tokens")) == 1


# --- production -------------------------------------------------------------------------

PRODUCTION = {"APP_ENV": "production", "SECRET_KEY": "k" * 8 + "abcdefghijklmnopqrstuvwxyz0123456789",
              "PUBLIC_BASE_URL": "https://login.example.test", "WECHAT_APPID": "wx1", "WECHAT_SECRET": "s"}


def test_production_refuses_an_http_issuer(monkeypatch):
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT")
    with pytest.raises(ConfigError, match="OIDC_ISSUER must be an https"):
        create_app({**PRODUCTION, "OIDC_ISSUER": "http://login.example.test"})


def test_production_refuses_authlibs_insecure_transport_switch():
    with pytest.raises(ConfigError, match="AUTHLIB_INSECURE_TRANSPORT"):
        create_app(PRODUCTION)
