"""The OpenID Connect provider through a test client: a registered app logs a person in by the scan."""
from urllib.parse import urlencode

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
    assert phone.set_profile(nickname="Alice", avatar_url="https://thirdwx.qlogo.cn/mmopen/alice/132").status_code == 200
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
    assert claims["aud"] == app_.client_id
    assert claims["nonce"] == app_.nonce
    # the same stable, opaque id the service shows everywhere (never the openid)
    assert claims["sub"].startswith("u_") and claims["sub"] == phone.user["id"] != "o-alice"
    assert {"auth_time", "sid", "amr", "iss", "exp"} <= set(claims)

    info = app_.userinfo(body["access_token"]).get_json()
    assert info["sub"] == claims["sub"]
    assert info["name"] == "Alice" and info["picture"] == "https://thirdwx.qlogo.cn/mmopen/alice/132"


def logged_in_code(browser, phone, app_, **extra):
    params = redirect_params(scan_login(browser, phone, app_.authorize_url(**extra)))
    return params["code"]


# --- what goes wrong must fail safely ------------------------------------------------

def test_an_unregistered_redirect_uri_gets_an_error_page_never_a_redirect(browser, register):
    app_ = register()
    response = browser.get(app_.authorize_url(redirect_uri="https://evil.example.test/login"))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert b"cannot accept" in response.data


def test_a_code_works_once_and_its_second_use_revokes_what_the_first_got(browser, phone, register):
    app_ = register()
    code = logged_in_code(browser, phone, app_)
    first = app_.redeem(code)
    assert first.status_code == 200
    access = first.get_json()["access_token"]
    assert app_.userinfo(access).status_code == 200

    again = app_.redeem(code)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    assert app_.userinfo(access).status_code == 401


def test_a_wrong_pkce_verifier_is_refused(browser, phone, register):
    app_ = register(public=True, redirect_uri="http://127.0.0.1:9/cb")
    code = logged_in_code(browser, phone, app_)
    wrong = app_.redeem(code, verifier="x" * 64)
    assert wrong.status_code == 400 and wrong.get_json()["error"] == "invalid_grant"


def test_a_public_client_must_send_a_pkce_challenge(browser, register):
    app_ = register(public=True, redirect_uri="http://127.0.0.1:9/cb")
    params = redirect_params(browser.get(app_.authorize_url(pkce=False)))
    assert params["error"] == "invalid_request" and params["state"] == app_.state
    plain = redirect_params(browser.get(app_.authorize_url(code_challenge_method="plain")))
    assert plain["error"] == "invalid_request"


def test_a_code_redeemed_with_another_redirect_uri_is_refused(browser, phone, register):
    app_ = register()
    code = logged_in_code(browser, phone, app_)
    response = app_.redeem(code, redirect_uri="https://grafana.example.test/other")
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_an_expired_code_is_refused(browser, phone, register, clock, app):
    app_ = register()
    code = logged_in_code(browser, phone, app_)
    clock.advance(app.config["OIDC_CODE_TTL_SECONDS"] + 1)
    response = app_.redeem(code)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_prompt_none_without_a_session_answers_login_required(browser, register):
    app_ = register()
    params = redirect_params(browser.get(app_.authorize_url(prompt="none")))
    assert params == {"error": "login_required", "state": app_.state, **{k: params[k] for k in params
                                                                           if k == "error_description"}}


def test_a_person_outside_the_apps_groups_cannot_log_in_to_it(browser, phone, register):
    app_ = register(name="Grafana", allowed_groups=["ops"])
    response = browser.get(app_.authorize_url())
    request_id = response.headers["Location"].split("=", 1)[1]
    ticket = browser.post("/api/tickets", json={"authorization_request": request_id}).get_json()
    refused = phone.scan(ticket["ticket_id"])
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "access_denied"
    assert "Grafana" in refused.get_json()["error"]["message"]
    # The PC page hears it at once and offers a new code, as for any refused account.
    assert browser.get(f"/api/tickets/{ticket['ticket_id']}").get_json()["status"] == "denied"


def test_the_phone_is_told_which_app_it_logs_in_to(browser, phone, register):
    app_ = register(name="Wiki")
    request_id = browser.get(app_.authorize_url()).headers["Location"].split("=", 1)[1]
    page = browser.get(f"/login?authorize={request_id}")
    assert b"Log in to Wiki" in page.data
    ticket = browser.post("/api/tickets", json={"authorization_request": request_id}).get_json()
    answer = phone.scan(ticket["ticket_id"]).get_json()
    assert answer["app"] == {"name": "Wiki", "trusted": False}


def test_another_browser_cannot_attach_or_resume_someone_elses_request(browser, stranger, register):
    app_ = register()
    request_id = browser.get(app_.authorize_url()).headers["Location"].split("=", 1)[1]
    refused = stranger.post("/api/tickets", json={"authorization_request": request_id})
    assert refused.status_code == 400
    assert stranger.get(f"/oauth/authorize/resume/{request_id}").status_code == 400


# --- sessions: when the scan is needed again ---------------------------------------

def test_a_trusted_app_logs_a_logged_in_person_in_without_a_scan(browser, phone, register):
    app_ = register(trusted=True)
    logged_in_code(browser, phone, app_)
    again = redirect_params(browser.get(app_.authorize_url()))
    assert again["code"] and again["state"] == app_.state


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}, {}], ids=["prompt-login", "max-age", "untrusted"])
def test_a_new_scan_is_asked_for_when_the_app_wants_one(browser, phone, register, clock, extra):
    app_ = register(trusted=not extra == {})
    logged_in_code(browser, phone, app_)
    clock.advance(5)
    response = browser.get(app_.authorize_url(**extra))
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?authorize=")


# --- refresh tokens, revocation, logout -----------------------------------------------

def test_refresh_tokens_only_with_offline_access(browser, phone, register):
    app_ = register()
    body = app_.redeem(logged_in_code(browser, phone, app_)).get_json()
    assert "refresh_token" not in body


def test_a_refresh_token_is_rotated_and_its_reuse_ends_the_whole_grant(browser, phone, register):
    app_ = register()
    first = app_.redeem(logged_in_code(browser, phone, app_, scope="openid offline_access")).get_json()
    second = app_.refresh(first["refresh_token"])
    assert second.status_code == 200, second.get_json()
    rotated = second.get_json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert app_.userinfo(rotated["access_token"]).status_code == 200

    stolen = app_.refresh(first["refresh_token"])  # someone replays the old one
    assert stolen.status_code == 400 and stolen.get_json()["error"] == "invalid_grant"
    assert app_.userinfo(rotated["access_token"]).status_code == 401
    assert app_.refresh(rotated["refresh_token"]).status_code == 400


def test_revocation_ends_a_token(browser, phone, register):
    app_ = register()
    token = app_.redeem(logged_in_code(browser, phone, app_)).get_json()["access_token"]
    assert app_.revoke(token).status_code == 200
    assert app_.userinfo(token).status_code == 401


def test_logging_out_through_the_app_ends_the_session_and_its_tokens(browser, phone, register):
    app_ = register(post_logout=["https://grafana.example.test/bye"])
    body = app_.redeem(logged_in_code(browser, phone, app_)).get_json()
    response = browser.get("/oauth/end_session?" + urlencode({
        "id_token_hint": body["id_token"], "post_logout_redirect_uri": "https://grafana.example.test/bye",
        "state": "s1"}))
    assert response.status_code == 302
    assert response.headers["Location"] == "https://grafana.example.test/bye?state=s1"
    assert browser.get("/api/me").status_code == 401
    assert app_.userinfo(body["access_token"]).status_code == 401


def test_logging_out_without_an_id_token_asks_first(browser, phone, register):
    app_ = register()
    logged_in_code(browser, phone, app_)
    page = browser.get("/oauth/end_session")
    assert page.status_code == 200 and b'name="confirm"' in page.data
    assert browser.get("/api/me").status_code == 200
    assert browser.post("/oauth/end_session", data={"confirm": "forged"}).status_code == 200
    assert browser.get("/api/me").status_code == 200


def test_ending_the_session_from_the_phone_ends_the_apps_access(browser, phone, register):
    app_ = register()
    token = app_.redeem(logged_in_code(browser, phone, app_)).get_json()["access_token"]
    session_id = phone.client.get("/api/mp/sessions", headers=phone.headers()).get_json()["sessions"][0]["id"]
    assert phone.client.delete(f"/api/mp/sessions/{session_id}", headers=phone.headers()).status_code == 200
    assert app_.userinfo(token).status_code == 401
