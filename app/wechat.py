"""WeChat's server API, as the service uses it (README "Deployment" tells the settings): the one client.

Every call has connect and read timeouts. A call is retried, with backoff, only
when WeChat says it is busy (errcode -1) or the connection failed; a read timeout
or a connection lost mid-answer is retried only for calls that may safely run
twice (a wx.login code is single-use, so jscode2session never is). Every errcode
becomes one error class of ours. Logs carry the endpoint and errcode, never
secrets, session_key, access tokens or URLs (they hold them in the query).

The access token (stable_token) lives in one database row shared by every
worker and machine; one process at a time refreshes it (see WeChatAccessToken).
"""
import logging
import random
import secrets
import threading
import time
from datetime import datetime, timedelta
from typing import NamedTuple

import requests
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from urllib3.exceptions import NewConnectionError

from . import clock, errors, metrics
from .extensions import db
from .models import WeChatAccessToken

log = logging.getLogger(__name__)

# errcodes any endpoint may answer
_COMMON_ERRORS = {
    -1: errors.WeChatUnavailable,      # system busy
    40001: errors.WeChatTokenInvalid,  # access token invalid or rotated
    40014: errors.WeChatTokenInvalid,  # access token malformed
    42001: errors.WeChatTokenInvalid,  # access token expired
    40002: errors.WeChatMisconfigured,  # bad grant_type
    40013: errors.WeChatMisconfigured,  # bad appid
    40125: errors.WeChatMisconfigured,  # bad secret
    40164: errors.WeChatMisconfigured,  # this server's IP is not on the app's allowlist
    41002: errors.WeChatMisconfigured,  # appid missing
    41004: errors.WeChatMisconfigured,  # secret missing
    45009: errors.WeChatQuotaExceeded,  # the app's API quota is used up
    45011: errors.WeChatQuotaExceeded,  # too many calls a minute
}

# errcode -> the error we report for jscode2session
_LOGIN_ERRORS = {
    40029: errors.WeChatCodeInvalid,
    40163: errors.WeChatCodeUsed,
    45011: errors.WeChatRateLimited,  # here: this user signs in too often
    40226: errors.WeChatUserBlocked,
}

_WXACODE_ERRORS = {
    41030: errors.WeChatPageInvalid,
    40169: errors.WeChatSceneInvalid,
}

_OA_ERRORS = {
    48001: errors.WeChatOaUnauthorized,  # the account type may not call this API (unverified, subscription)
}

# errcode -> the error we report for getuserphonenumber
_PHONE_ERRORS = {
    40029: errors.PhoneCodeInvalid,     # invalid or expired code
    40163: errors.PhoneCodeInvalid,     # code already used
    45011: errors.WeChatRateLimited,    # too many calls a minute
    1400001: errors.PhoneQuotaExhausted,  # the paid allowance is used up
}

TOKEN_ERRCODES = (40001, 40014, 42001)
MAX_IMAGE_BYTES = 2 * 1024 * 1024
# Between two forced refreshes (WeChat allows one per 30 s, 20 a day).
FORCE_REFRESH_GAP = timedelta(seconds=30)
# How often a process waiting for another process's refresh looks at the row.
LEASE_POLL_SECONDS = 0.05


class Image(NamedTuple):
    data: bytes
    mimetype: str


def _sleep(seconds: float) -> None:  # tests replace this to count backoffs
    time.sleep(seconds)


class WeChatClient:
    def __init__(self, appid: str, secret: str, api_base: str, timeout: float, *, retries: int = 2,
                 backoff: float = 0.2, token_margin: float = 300):
        self.appid = appid
        self.secret = secret
        self.api_base = api_base
        self.timeout = (min(3.05, timeout), timeout)
        self.retries = retries
        self.backoff = backoff
        self.token_margin = timedelta(seconds=token_margin)
        self.http = requests.Session()
        # Longest one refresh may take, retries included; a dead holder's lease runs out after it.
        self.lease_seconds = (retries + 1) * (self.timeout[0] + timeout) + backoff * 2 ** (retries + 1) + 1
        self._lock = threading.Lock()  # one refresh per process; others wait for it
        self._memo: tuple[str, datetime] | None = None

    # --- endpoints -----------------------------------------------------------

    def code_to_session(self, code: str) -> dict:
        """Exchange a wx.login code for the user's openid (and unionid when bound)."""
        params = {"appid": self.appid, "secret": self.secret, "js_code": code,
                  "grant_type": "authorization_code"}
        data = self._request("jscode2session", "GET", "/sns/jscode2session", params=params,
                             idempotent=False, errcodes=_LOGIN_ERRORS)
        openid = data.get("openid")
        if not isinstance(openid, str) or not openid or len(openid) > 64:
            log.warning("WeChat jscode2session answered without a usable openid")
            raise errors.WeChatFailed()
        unionid = data.get("unionid")
        return {"openid": openid, "unionid": unionid if isinstance(unionid, str) else None}

    def wxacode(self, scene: str, page: str, env_version: str, width: int = 430) -> Image:
        """The mini-program code that opens `page` with `scene` (getwxacodeunlimit)."""
        body = {"scene": scene, "page": page, "check_path": True, "env_version": env_version, "width": width}

        def call(token):
            return self._request("getwxacodeunlimit", "POST", "/wxa/getwxacodeunlimit",
                                 params={"access_token": token}, json=body, idempotent=True,
                                 errcodes=_WXACODE_ERRORS, image=True)

        return self._with_token(call)

    def qrcode_create(self, scene: str, expire_seconds: int) -> str:
        """The url of a temporary parametric QR naming `scene` (Official Account; QR_STR_SCENE)."""
        body = {"expire_seconds": expire_seconds, "action_name": "QR_STR_SCENE",
                "action_info": {"scene": {"scene_str": scene}}}

        def call(token):
            # Each call makes a new QR, so a repeat after a lost answer only wastes one.
            return self._request("qrcode_create", "POST", "/cgi-bin/qrcode/create", params={"access_token": token},
                                 json=body, idempotent=True, errcodes=_OA_ERRORS)

        url = self._with_token(call).get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 512:
            log.warning("WeChat qrcode_create answered without a usable url")
            raise errors.WeChatFailed()
        return url

    def user_info(self, openid: str) -> dict:
        """What the Official Account knows of a follower: {"unionid": str | None} (no name or avatar since 2021)."""
        def call(token):
            return self._request("user_info", "GET", "/cgi-bin/user/info",
                                 params={"access_token": token, "openid": openid, "lang": "zh_CN"},
                                 idempotent=True, errcodes=_OA_ERRORS)

        unionid = self._with_token(call).get("unionid")
        return {"unionid": unionid if isinstance(unionid, str) and 0 < len(unionid) <= 64 else None}

    def phone_number(self, code: str, openid: str | None) -> str:
        """The verified phone number (E.164) behind a getPhoneNumber button's code.

        A paid call, never repeated on our side: a code is single-use, so a timeout
        is reported, not retried. WeChat's watermark must name this mini-program."""
        body = {"code": code}
        if openid:  # WeChat then also checks the code belongs to this user
            body["openid"] = openid

        def call(token):
            return self._request("getuserphonenumber", "POST", "/wxa/business/getuserphonenumber",
                                 params={"access_token": token}, json=body, idempotent=False,
                                 errcodes=_PHONE_ERRORS)

        info = self._with_token(call).get("phone_info")
        if not isinstance(info, dict):
            log.warning("WeChat getuserphonenumber answered without phone_info")
            raise errors.WeChatFailed()
        watermark = info.get("watermark")
        if not isinstance(watermark, dict) or watermark.get("appid") != self.appid:
            log.warning("WeChat getuserphonenumber answered for another app id; number not stored")
            raise errors.PhoneWrongApp()
        country, number = str(info.get("countryCode") or ""), str(info.get("purePhoneNumber") or "")
        phone = f"+{country}{number}"
        if not (country.isdigit() and number.isdigit() and 8 <= len(phone) <= 16 and country[0] != "0"):
            log.warning("WeChat getuserphonenumber answered an unusable number")
            raise errors.WeChatFailed()
        return phone

    # --- access token --------------------------------------------------------

    def access_token(self, stale: str | None = None) -> str:
        """A valid access token; with `stale` (one WeChat just refused), a newer one."""
        memo = self._memo
        if stale is None and memo is not None and self._fresh(memo[1]):
            return memo[0]
        if not self._lock.acquire(timeout=self.lease_seconds):
            raise errors.WeChatUnavailable()
        try:
            return self._shared_token(stale)
        finally:
            self._lock.release()

    def _with_token(self, call):
        token = self.access_token()
        try:
            return call(token)
        except errors.WeChatTokenInvalid:
            log.info("WeChat refused the access token; refreshing it once")
            return call(self.access_token(stale=token))

    def _shared_token(self, stale: str | None) -> str:
        deadline = time.monotonic() + self.lease_seconds
        self._ensure_row()
        while True:
            row = self._row()
            if self._usable(row, stale):
                return self._remember(row)
            owner = self._take_lease()
            if owner is not None:
                return self._refresh(owner, stale)
            if time.monotonic() > deadline:
                log.warning("WeChat access token: gave up waiting for another process's refresh")
                raise errors.WeChatUnavailable()
            _sleep(LEASE_POLL_SECONDS)

    def _refresh(self, owner: str, stale: str | None) -> str:
        T = WeChatAccessToken
        try:
            row = self._row()  # another process may have finished between our read and our lease
            if self._usable(row, stale):
                self._release(owner, {})
                return self._remember(row)
            recently = row.refreshed_at is not None and clock.utcnow() - row.refreshed_at < FORCE_REFRESH_GAP
            force = stale is not None and row.token == stale and not recently
            token, expires_in = self._fetch_token(force)
        except BaseException:
            self._release(owner, {})
            raise
        now = clock.utcnow()
        values = {T.token: token, T.expires_at: now + timedelta(seconds=expires_in), T.refreshed_at: now}
        self._release(owner, values)
        log.info("WeChat access token refreshed (force=%s, expires_in=%s)", force, expires_in)
        self._memo = (token, values[T.expires_at])
        return token

    def _fetch_token(self, force: bool) -> tuple[str, int]:
        body = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret,
                "force_refresh": force}
        data = self._request("stable_token", "POST", "/cgi-bin/stable_token", json=body,
                             idempotent=not force, errcodes={})
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not token or len(token) > 512 or not isinstance(expires_in, int) \
                or expires_in <= 0:
            log.warning("WeChat stable_token answered without a usable token")
            raise errors.WeChatFailed()
        return token, expires_in

    def _fresh(self, expires_at: datetime | None) -> bool:
        return expires_at is not None and expires_at - self.token_margin > clock.utcnow()

    def _usable(self, row, stale: str | None) -> bool:
        return row is not None and bool(row.token) and row.token != stale and self._fresh(row.expires_at)

    def _remember(self, row) -> str:
        self._memo = (row.token, row.expires_at)
        return row.token

    def _row(self):
        T = WeChatAccessToken
        with db.engine.connect() as conn:
            return conn.execute(
                sa.select(T.token, T.expires_at, T.refreshed_at).where(T.appid == self.appid)
            ).first()

    def _ensure_row(self) -> None:
        try:
            with db.engine.begin() as conn:
                conn.execute(sa.insert(WeChatAccessToken).from_select(
                    ["appid"],
                    sa.select(sa.literal(self.appid)).where(
                        ~sa.exists().where(WeChatAccessToken.appid == self.appid)),
                ))
        except IntegrityError:
            pass  # another process created it at the same moment

    def _take_lease(self) -> str | None:
        """One conditional UPDATE: the row's lease is ours only if nobody holds a live one."""
        T = WeChatAccessToken
        owner = secrets.token_hex(8)
        now = clock.utcnow()
        with db.engine.begin() as conn:
            taken = conn.execute(
                sa.update(T)
                .where(T.appid == self.appid, sa.or_(T.lease_until.is_(None), T.lease_until < now))
                .values(lease_owner=owner, lease_until=now + timedelta(seconds=self.lease_seconds))
            ).rowcount
        return owner if taken == 1 else None

    def _release(self, owner: str, values: dict) -> None:
        T = WeChatAccessToken
        with db.engine.begin() as conn:
            conn.execute(
                sa.update(T).where(T.appid == self.appid, T.lease_owner == owner)
                .values({T.lease_owner: None, T.lease_until: None, **values})
            )

    # --- transport -----------------------------------------------------------

    def _request(self, endpoint: str, method: str, path: str, *, params=None, json=None,
                 idempotent: bool, errcodes: dict, image: bool = False):
        """One WeChat call with bounded retries; answers the JSON body (or an Image)."""
        attempts = 1 + self.retries
        for attempt in range(attempts):
            last = attempt + 1 == attempts
            started = time.perf_counter()
            try:
                response = self.http.request(method, self.api_base + path, params=params, json=json,
                                             timeout=self.timeout)
            except requests.RequestException as exc:
                result, error, retry = _classify(exc, idempotent)
                metrics.wechat_call(endpoint, result, time.perf_counter() - started)
                log.warning("WeChat %s failed: %s (attempt %d of %d)", endpoint, result, attempt + 1, attempts)
                if retry and not last:
                    self._backoff(attempt)
                    continue
                raise error() from None
            seconds = time.perf_counter() - started
            body = self._body(endpoint, response, image, seconds)
            if isinstance(body, Image):
                metrics.wechat_call(endpoint, "ok", seconds)
                return body
            errcode = body.get("errcode") or 0
            if not errcode:
                metrics.wechat_call(endpoint, "ok", seconds)
                return body
            metrics.wechat_call(endpoint, f"errcode_{errcode}", seconds)
            log.warning("WeChat %s failed: errcode=%s errmsg=%s (attempt %d of %d)", endpoint, errcode,
                        str(body.get("errmsg", ""))[:200], attempt + 1, attempts)
            if errcode == -1 and not last:
                self._backoff(attempt)
                continue
            raise (errcodes.get(errcode) or _COMMON_ERRORS.get(errcode) or errors.WeChatFailed)()
        raise AssertionError("unreachable")

    def _body(self, endpoint: str, response, image: bool, seconds: float):
        """The answer as a dict or an Image. WeChat says "error" in a JSON body, even with HTTP 200."""
        if response.status_code != 200:
            metrics.wechat_call(endpoint, f"http_{response.status_code}", seconds)
            log.warning("WeChat %s answered HTTP %s", endpoint, response.status_code)
            raise errors.WeChatFailed()
        mimetype = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if image and mimetype.startswith("image/"):
            if not response.content or len(response.content) > MAX_IMAGE_BYTES:
                metrics.wechat_call(endpoint, "invalid_body", seconds)
                raise errors.WeChatFailed()
            return Image(response.content, mimetype)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            metrics.wechat_call(endpoint, "invalid_body", seconds)
            log.warning("WeChat %s answered a body that is not a JSON object (%s)", endpoint, mimetype or "no type")
            raise errors.WeChatFailed()
        return data

    def _backoff(self, attempt: int) -> None:
        # Exponential with jitter, so many workers do not retry in step.
        _sleep(self.backoff * 2 ** attempt * random.uniform(0.5, 1.0))


def _classify(exc: requests.RequestException, idempotent: bool):
    """(metric result, our error, may retry) for a failed HTTP exchange."""
    if isinstance(exc, requests.ConnectTimeout) or _never_connected(exc):
        return ("timeout" if isinstance(exc, requests.Timeout) else "connection_error"), errors.WeChatUnavailable, True
    if isinstance(exc, requests.Timeout):
        # WeChat may have acted on the request (used the wx.login code): repeat only safe calls.
        return "timeout", errors.WeChatTimeout, idempotent
    if isinstance(exc, requests.ConnectionError):
        return "connection_error", errors.WeChatUnavailable, idempotent
    return "error", errors.WeChatFailed, False


def _never_connected(exc: Exception) -> bool:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def client() -> WeChatClient:
    """The process's client of the mini-program (one connection pool per worker)."""
    return _client("qrlogin_wechat", "WECHAT_APPID", "WECHAT_SECRET")


def oa_client() -> WeChatClient:
    """The process's client of the Official Account: same design, its own app id and token row."""
    return _client("qrlogin_wechat_oa", "WECHAT_OA_APPID", "WECHAT_OA_SECRET")


def _client(key: str, appid_setting: str, secret_setting: str) -> WeChatClient:
    ext = current_app.extensions
    if key not in ext:
        cfg = current_app.config
        # setdefault: two threads racing here still end up sharing one client (and its lock).
        ext.setdefault(key, WeChatClient(
            cfg[appid_setting], cfg[secret_setting] or "", cfg["WECHAT_API_BASE"], cfg["WECHAT_TIMEOUT_SECONDS"],
            retries=cfg["WECHAT_RETRIES"], backoff=cfg["WECHAT_RETRY_BACKOFF_SECONDS"],
            token_margin=cfg["WECHAT_TOKEN_MARGIN_SECONDS"],
        ))
    return ext[key]
