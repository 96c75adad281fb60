"""Property 18: mini-program sign-in is rate-limited per client (each call spends WeChat quota and a
database write): a flood from one address gets 429 rate_limited with Retry-After, while a person
who retries a few times a minute is never refused, and another address keeps its allowance."""
from app import create_app
from app.config import from_env

from ..support.apps import NO_LIMITS, serve
from ..support.assertions import assert_error


def sign_in(client, ip="198.51.100.20"):
    return client.post("/api/mp/login", json={"code": "ok-carol"}, environ_base={"REMOTE_ADDR": ip})


def test_property_18_a_flood_of_sign_ins_gets_429(config):
    for app in serve(create_app({**config, **NO_LIMITS, "MP_LOGIN_RATE_LIMIT": "5/minute"})):
        client = app.test_client()
        for _ in range(5):
            assert sign_in(client).status_code == 200
        refused = sign_in(client)
        assert_error(refused, 429, "rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
        assert sign_in(client, ip="198.51.100.21").status_code == 200


def test_property_18_a_person_retrying_is_never_refused(app):
    assert from_env({})["MP_LOGIN_RATE_LIMIT"] == "60/minute"
    client = app.test_client()
    for _ in range(6):  # a person tapping "sign in" again and again for a minute
        assert sign_in(client).status_code == 200
