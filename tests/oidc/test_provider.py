"""The OpenID Connect provider through a test client: a registered app logs a person in by the scan."""
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from .conftest import redirect_params, scan_login


def decode_id_token(http, id_token):
    keys = KeySet.import_key_set(http.get("/oauth/jwks").get_json())
    return jwt.decode(id_token, keys, algorithms=["RS256"])


def test_discovery_announces_the_code_flow_with_s256_only(browser):
    meta = browser.get("/.well-known/openid-configuration").get_json()
    base = meta["issuer"]
    assert meta["authorization_endpoint"] == base + "/oauth/authorize"
    for name in ("token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint", "revocation_endpoint"):
        assert meta[name].startswith(base + "/oauth/")
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]


def test_scan_logs_the_person_in_to_the_app(browser, phone, register):
    phone.set_profile(nickname="Alice", avatar_url="https://avatars.example.test/alice.png")
    app_ = register()
    response = scan_login(browser, phone, app_.authorize_url(scope="openid profile offline_access"))
    params = redirect_params(response)
    assert response.headers["Location"].startswith(app_.redirect_uri + "?")
    assert params["state"] == app_.state

    tokens = app_.redeem(params["code"])
    assert tokens.status_code == 200, tokens.get_json()
    body = tokens.get_json()
    assert body["token_type"].lower() == "bearer" and body["refresh_token"]
    claims = decode_id_token(browser, body["id_token"]).claims
    assert claims["aud"] == [app_.client_id] or claims["aud"] == app_.client_id
    assert claims["nonce"] == app_.nonce
    assert claims["sub"].startswith("u_") and claims["sub"] != phone.user["id"]
    assert {"auth_time", "sid", "amr", "iss", "exp"} <= set(claims)

    info = app_.userinfo(body["access_token"]).get_json()
    assert info["sub"] == claims["sub"]
    assert info["name"] == "Alice" and info["picture"] == "https://avatars.example.test/alice.png"
