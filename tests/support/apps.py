"""Starting and stopping apps in tests, and waiting for background work."""
import threading
import time

from app import wakeups
from app.extensions import db

from .fake_wechat import OA_AES_KEY, OA_APPID, OA_SECRET, OA_TOKEN


# Settings that turn every per-client limit off, for tests that play many clients from one address.
NO_LIMITS = {"TICKET_RATE_LIMIT": "", "TICKET_RATE_LIMIT_PER_ADDRESS": "", "MAX_OPEN_TICKETS_PER_BROWSER": 0,
             "MAX_OPEN_TICKETS_PER_ADDRESS": 0, "POLL_RATE_LIMIT": "", "QR_IMAGE_RATE_LIMIT": "",
             "MP_LOGIN_RATE_LIMIT": ""}


def serve(app):
    """Yield the app, then stop its waiters and close its database connections."""
    yield app
    wakeups.hub(app).close()
    with app.app_context():
        db.engine.dispose()


def wait_until(condition, timeout=10.0) -> bool:
    """Poll `condition` until true (for background work to get there), never to move a TTL."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def in_thread(fn, *args, **kwargs):
    """Run fn in a thread; returns (thread, result holder)."""
    result = {}

    def run():
        result["value"] = fn(*args, **kwargs)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def official_account(config: dict, safe: bool = False, **settings) -> dict:
    """Settings of the service logging in through the fake's Official Account (safe mode: encrypted)."""
    return {**config, "QR_MODE": "official_account", "WECHAT_OA_APPID": OA_APPID, "WECHAT_OA_SECRET": OA_SECRET,
            "WECHAT_OA_TOKEN": OA_TOKEN, "WECHAT_OA_AES_KEY": OA_AES_KEY if safe else None, **settings}
