"""WeChat's server API, as the service uses it (see shared WeChat notes).

Every call has connect and read timeouts; WeChat's errcodes become our errors.
Secrets and session_key are never logged and session_key never leaves here.
"""
import logging

import requests
from flask import current_app

from . import errors

log = logging.getLogger(__name__)

# errcode -> the error we report for jscode2session
_LOGIN_ERRORS = {
    40029: errors.WeChatCodeInvalid,
    40163: errors.WeChatCodeUsed,
    45011: errors.WeChatRateLimited,
    40226: errors.WeChatUserBlocked,
    -1: errors.WeChatUnavailable,
}


class WeChatClient:
    def __init__(self, appid: str, secret: str, api_base: str, timeout: float):
        self.appid = appid
        self.secret = secret
        self.api_base = api_base
        self.timeout = (min(3.05, timeout), timeout)
        self.http = requests.Session()

    def code_to_session(self, code: str) -> dict:
        """Exchange a wx.login code for the user's openid (and unionid when bound)."""
        params = {"appid": self.appid, "secret": self.secret, "js_code": code,
                  "grant_type": "authorization_code"}
        data = self._get_json("/sns/jscode2session", params)
        errcode = data.get("errcode") or 0
        if errcode:
            log.warning("jscode2session failed: errcode=%s errmsg=%s", errcode, data.get("errmsg"))
            raise _LOGIN_ERRORS.get(errcode, errors.WeChatFailed)()
        openid = data.get("openid")
        if not isinstance(openid, str) or not openid or len(openid) > 64:
            log.warning("jscode2session answered without a usable openid")
            raise errors.WeChatFailed()
        unionid = data.get("unionid")
        return {"openid": openid, "unionid": unionid if isinstance(unionid, str) else None}

    def _get_json(self, path: str, params: dict) -> dict:
        try:
            response = self.http.get(self.api_base + path, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            log.warning("WeChat %s unreachable: %s", path, type(exc).__name__)
            raise errors.WeChatUnavailable() from None
        if response.status_code != 200:
            log.warning("WeChat %s answered HTTP %s", path, response.status_code)
            raise errors.WeChatFailed()
        try:
            data = response.json()
        except ValueError:
            log.warning("WeChat %s answered a body that is not JSON", path)
            raise errors.WeChatFailed() from None
        if not isinstance(data, dict):
            raise errors.WeChatFailed()
        return data


def client() -> WeChatClient:
    """The process's client (one connection pool per worker)."""
    ext = current_app.extensions
    if "qrlogin_wechat" not in ext:
        cfg = current_app.config
        ext["qrlogin_wechat"] = WeChatClient(
            cfg["WECHAT_APPID"], cfg["WECHAT_SECRET"] or "", cfg["WECHAT_API_BASE"], cfg["WECHAT_TIMEOUT_SECONDS"]
        )
    return ext["qrlogin_wechat"]
