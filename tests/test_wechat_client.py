"""The WeChat client against the fake WeChat server: the shared access token, retries, timeouts, errcodes."""
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import clock as app_clock
from app import create_app, errors
from app import wechat as wechat_api
from app.extensions import db
from app.models import WeChatAccessToken

from .support.fake_wechat import APPID, SECRET

TOKEN = "/cgi-bin/stable_token"
WXACODE = "/wxa/getwxacodeunlimit"
LOGIN = "/sns/jscode2session"


def token_of(app):
    with app.app_context():
        return wechat_api.client().access_token()


def draw(app, scene="abc123"):
    with app.app_context():
        return wechat_api.client().wxacode(scene, "pages/login/confirm", "release")


@pytest.fixture
def other_worker(config, wechat):
    """A second process of the service: its own client and locks, the same database."""
    other = create_app(config)
    yield other
    with other.app_context():
        db.engine.dispose()


# --- the access token ---------------------------------------------------------

def test_token_is_fetched_once_and_shared_by_all_workers(app, other_worker, wechat):
    first = token_of(app)
    assert token_of(app) == first
    assert token_of(other_worker) == first
    assert wechat.count(TOKEN) == 1
    request = wechat.calls[0]["json"]
    assert request == {"grant_type": "client_credential", "appid": APPID, "secret": SECRET, "force_refresh": False}


def test_token_is_renewed_shortly_before_it_expires(app, wechat, clock):
    first = token_of(app)
    renewed = wechat.rotate()  # what WeChat hands out in the token's last minutes
    clock.advance(7200 - 301)
    assert token_of(app) == first
    assert wechat.count(TOKEN) == 1
    clock.advance(2)  # now inside the 5-minute margin
    assert token_of(app) == renewed
    assert wechat.count(TOKEN) == 2


def test_a_worker_sees_the_token_another_worker_renewed(app, other_worker, wechat, clock):
    token_of(app)
    token_of(other_worker)
    renewed = wechat.rotate()
    clock.advance(7200)
    assert token_of(app) == renewed
    assert token_of(other_worker) == renewed
    assert wechat.count(TOKEN) == 2


def test_concurrent_callers_in_several_workers_share_one_refresh(app, other_worker, wechat):
    wechat.token_delay = 0.3  # the refresh is slow, so every caller arrives while it runs
    workers = [app, other_worker] * 8
    barrier = threading.Barrier(len(workers))
    results = []

    def caller(worker):
        barrier.wait()
        results.append(token_of(worker))

    threads = [threading.Thread(target=caller, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert results == [wechat.token] * len(workers)
    assert wechat.count(TOKEN) == 1


def test_a_refresh_left_unfinished_by_a_dead_worker_is_taken_over(app, wechat):
    with app.app_context():
        db.session.add(WeChatAccessToken(appid=APPID, lease_owner="dead-worker",
                                         lease_until=app_clock.utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert token_of(app) == wechat.token
    with app.app_context():
        row = db.session.get(WeChatAccessToken, APPID)
        assert row.lease_owner is None and row.token == wechat.token


def test_a_failed_refresh_leaves_the_row_free_for_the_next_try(app, wechat):
    wechat.script(TOKEN, ("errcode", 45009))
    with app.app_context(), pytest.raises(errors.WeChatQuotaExceeded):
        wechat_api.client().access_token()
    assert token_of(app) == wechat.token
    assert wechat.count(TOKEN) == 2


def test_a_rotated_token_is_refreshed_once_and_the_call_retried(app, wechat):
    stale = token_of(app)
    fresh = wechat.rotate()  # e.g. another system forced a refresh
    image = draw(app)
    assert image.data.startswith(b"\x89PNG")
    assert [c["query"]["access_token"] for c in wechat.calls if c["path"] == WXACODE] == [stale, fresh]
    assert wechat.count(TOKEN) == 2


def test_a_token_refused_long_after_its_refresh_is_refreshed_by_force(app, wechat, clock):
    token_of(app)
    wechat.script(WXACODE, ("errcode", 40001))  # WeChat no longer accepts the token it still hands out
    clock.advance(60)
    draw(app)
    forced = [c["json"]["force_refresh"] for c in wechat.calls if c["path"] == TOKEN]
    assert forced == [False, True]


def test_a_token_refused_twice_is_an_error_not_a_loop(app, wechat):
    token_of(app)
    wechat.script(WXACODE, ("errcode", 40001), ("errcode", 42001), ("errcode", 40001))
    with pytest.raises(errors.WeChatTokenInvalid):
        draw(app)
    assert wechat.count(WXACODE) == 2


def test_token_is_never_logged(app, wechat, log_lines):
    wechat.script(WXACODE, ("errcode", 40001))
    draw(app)
    text = "\n".join(log_lines())
    assert "errcode=40001" in text
    assert wechat.token not in text and "token-1" not in text
    assert SECRET not in text


# --- retries, timeouts and errcodes -------------------------------------------

def test_busy_wechat_is_retried_with_backoff(app, wechat, monkeypatch):
    pauses = []
    monkeypatch.setattr(wechat_api, "_sleep", pauses.append)
    wechat.script(TOKEN, ("errcode", -1), ("errcode", -1))
    assert token_of(app) == wechat.token
    assert wechat.count(TOKEN) == 3
    assert len(pauses) == 2 and pauses[0] < pauses[1]


def test_busy_wechat_gives_up_after_the_bounded_retries(app, wechat):
    response = app.test_client().post("/api/mp/login", json={"code": "err--1"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "wechat_unavailable"
    assert wechat.count(LOGIN) == 3


def test_sign_in_is_not_repeated_after_a_read_timeout(config, wechat):
    # WeChat may already have used the single-use wx.login code: asking again would only say "used".
    app = create_app({**config, "WECHAT_TIMEOUT_SECONDS": 0.3})
    response = app.test_client().post("/api/mp/login", json={"code": "slow-1"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "wechat_unavailable"
    assert wechat.count(LOGIN) == 1


def test_sign_in_is_not_repeated_when_the_connection_drops_mid_answer(app, wechat):
    wechat.script(LOGIN, ("close",))
    response = app.test_client().post("/api/mp/login", json={"code": "ok-dora"})
    assert response.status_code == 503
    assert wechat.count(LOGIN) == 1


def test_safe_calls_are_repeated_after_a_read_timeout(config, wechat):
    app = create_app({**config, "WECHAT_TIMEOUT_SECONDS": 0.3})
    wechat.script(TOKEN, ("sleep", 0.8))
    assert token_of(app) == wechat.token
    assert wechat.count(TOKEN) == 2


def test_safe_calls_are_repeated_when_the_connection_drops(app, wechat):
    token_of(app)
    wechat.script(WXACODE, ("close",))
    assert draw(app).data.startswith(b"\x89PNG")
    assert wechat.count(WXACODE) == 2


def test_unreachable_wechat_is_retried_then_unavailable(config, wechat, monkeypatch):
    pauses = []
    monkeypatch.setattr(wechat_api, "_sleep", pauses.append)
    app = create_app({**config, "WECHAT_API_BASE": "http://127.0.0.1:9"})
    with app.app_context(), pytest.raises(errors.WeChatUnavailable):
        wechat_api.client().access_token()
    assert len(pauses) == 2


@pytest.mark.parametrize(
    "errcode, error",
    [
        (41030, errors.WeChatPageInvalid),
        (40169, errors.WeChatSceneInvalid),
        (45009, errors.WeChatQuotaExceeded),
        (40164, errors.WeChatMisconfigured),
        (99999, errors.WeChatFailed),
    ],
)
def test_mini_program_code_errcodes_map_to_one_error_each(app, wechat, errcode, error):
    token_of(app)
    wechat.script(WXACODE, ("errcode", errcode))
    with pytest.raises(error):
        draw(app)
    assert wechat.count(WXACODE) == 1


@pytest.mark.parametrize(
    "action, error",
    [(("http", 502), errors.WeChatFailed), (("errcode", 40013), errors.WeChatMisconfigured),
     (("errcode", 45009), errors.WeChatQuotaExceeded)],
)
def test_token_failures_are_clear_errors(app, wechat, action, error):
    wechat.script(TOKEN, action)
    with app.app_context(), pytest.raises(error):
        wechat_api.client().access_token()
    assert wechat.count(TOKEN) == 1


def test_wrong_secret_is_reported_as_misconfiguration(config, wechat):
    app = create_app({**config, "WECHAT_SECRET": "wrong-secret-value"})
    with app.app_context(), pytest.raises(errors.WeChatMisconfigured):
        wechat_api.client().access_token()
    with app.app_context():
        assert db.session.scalar(sa.select(WeChatAccessToken.token)) is None
