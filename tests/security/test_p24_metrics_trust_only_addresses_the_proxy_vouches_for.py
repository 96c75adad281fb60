"""Property 24: /metrics trusts only the address the proxy configuration vouches for. With any
proxy header present (Forwarded, X-Real-IP, X-Forwarded-For, ...) and no PROXY_FIX_HOPS, a request
from 127.0.0.1 is really a visitor behind a local proxy: it does not get loopback access. With
PROXY_FIX_HOPS the client ProxyFix resolved from X-Forwarded-For is what counts."""
import pytest

from app import create_app

from ..support.apps import serve
from ..support.assertions import assert_error

PROXIED = [{"Forwarded": "for=198.51.100.7"}, {"X-Real-IP": "198.51.100.7"}, {"X-Forwarded-For": "198.51.100.7"},
           {"X-Forwarded-Host": "login.example.com"}, {"Forwarded": "for=127.0.0.1"}]


def metrics(app, headers=None):
    return app.test_client().get("/metrics", headers=headers or {}, environ_base={"REMOTE_ADDR": "127.0.0.1"})


def test_property_24_a_direct_local_scraper_is_served(app):
    assert metrics(app).status_code == 200


@pytest.mark.parametrize("headers", PROXIED, ids=lambda h: next(iter(h)))
def test_property_24_proxied_requests_are_not_local(app, headers):
    assert_error(metrics(app, headers), 403, "forbidden")


def test_property_24_with_proxy_hops_the_vouched_client_counts(config):
    for app in serve(create_app({**config, "PROXY_FIX_HOPS": 1})):
        assert metrics(app, {"X-Forwarded-For": "127.0.0.1"}).status_code == 200
        assert_error(metrics(app, {"X-Forwarded-For": "198.51.100.7"}), 403, "forbidden")
        # A header ProxyFix does not read cannot vouch for anyone.
        assert_error(metrics(app, {"X-Real-IP": "127.0.0.1"}), 403, "forbidden")
