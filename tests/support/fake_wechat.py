"""A stand-in for WeChat's API: a real HTTP server on 127.0.0.1 that answers like WeChat.

Codes the fake understands for /sns/jscode2session:
  ok-<name>       -> openid "o-<name>" (and unionid "u-<name>")
  err-<errcode>   -> {"errcode": <errcode>, "errmsg": "..."} with HTTP 200, as WeChat does
  slow-<seconds>  -> answers after that many seconds
  anything else   -> errcode 40029 (invalid code)
Every request is recorded in `calls`.

Access token and mini-program codes (POST, JSON bodies):
  /cgi-bin/stable_token     -> {"access_token": "token-<n>", "expires_in": token_expires_in}; the same
                               token while it is valid, a new one with force_refresh (the old one then
                               stops working); waits `token_delay` seconds first
  /wxa/getwxacodeunlimit    -> PNG bytes (image/png) for a valid token, page and scene; otherwise a
                               JSON errcode body with HTTP 200: 40001 stale token, 41030 unknown page,
                               40169 bad scene
  /wxa/business/getuserphonenumber -> {"errcode": 0, "phone_info": {...}} for a valid token and code:
                               "phone-<digits>" (a mainland number, country code 86), or
                               "phone-<country>-<digits>"; "wrongapp-phone-<digits>" answers with
                               another app's watermark; "err-<n>" answers errcode n; a code used
                               before answers 40029; with `phone_quota` set, answers 1400001 once
                               it reaches 0 (the paid allowance is used up)
`rotate()` replaces the token as WeChat does when another client forces a refresh.

The Official Account (its own app id, secret and access token, as at WeChat):
  /cgi-bin/qrcode/create    -> {"ticket", "expire_seconds", "url"} for a valid token and a QR_STR_SCENE body;
                               `qrcodes` maps each url to its scene
  /cgi-bin/user/info        -> {"subscribe": 1, "openid", "unionid": "union-<openid>"}
`event()` writes an event as WeChat does, and `push()` / `push_request()` deliver it to the
service's callback as WeChat does: signed query, text/xml body, in plain or safe mode. Safe
mode is encrypted with wechatpy's implementation, not the service's.
`script(path, *actions)` makes the next requests to `path` misbehave, one action each:
  ("errcode", n)   answer {"errcode": n} with HTTP 200
  ("sleep", s)     wait s seconds, then answer normally
  ("http", status) answer that HTTP status with a text body
  ("close",)       drop the connection without answering
`reset()` (the `wechat` fixture) restores all of this between tests.
"""
import hashlib
import io
import json
import re
import secrets
import sys
import threading
import time
from typing import NamedTuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

APPID = "wx-test-appid"
SECRET = "wx-test-secret"
LOGIN_PAGE = "pages/login/confirm"
OA_APPID = "wx-test-oa-appid"
OA_SECRET = "wx-test-oa-secret"
OA_TOKEN = "oatesttoken"
OA_ACCOUNT = "gh_0123456789ab"  # the account's own id, ToUserName of every push
OA_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OA_AES_KEY_OLD = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
_CREDENTIALS = {APPID: SECRET, OA_APPID: OA_SECRET}
# What WeChat's servers send with a push.
PUSH_HEADERS = {"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0", "Accept": "*/*", "Pragma": "no-cache"}


class Push(NamedTuple):
    """One delivery to the callback, as WeChat makes it."""
    query: dict
    body: bytes
    headers: dict
_SCENE = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}")


def sha1_sorted(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted parts joined."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _aes_key(encoding_aes_key: str) -> bytes:
    import base64

    return base64.b64decode(encoding_aes_key + "=")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # The client gave up (a timeout test): expected, so say nothing. Printing the
        # traceback here would also run Python 3.11's traceback carets (ast.parse) in
        # this thread while the test thread builds an app (werkzeug also uses ast.parse),
        # and 3.11 shares ast.parse's depth counter between threads: "SystemError: AST
        # constructor recursion depth mismatch" in an unrelated test.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class FakeWeChat:
    def __init__(self):
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # clients that gave up (timeouts)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.reset()

    def reset(self):
        with self.lock:
            self.calls.clear()
            self.token_delay = 0.0
            self.token_expires_in = 7200
            self.pages = {LOGIN_PAGE}
            self._scripts: dict[str, list[tuple]] = {}
            self.phone_quota: int | None = None
            self._used_phone_codes: set[str] = set()
            self._token_number = 0
            self._token = self._next_token()
            self._oa_token = "oa-" + self._next_token()
            self.qrcodes: dict[str, str] = {}

    def _next_token(self) -> str:
        self._token_number += 1
        return f"token-{self._token_number}"

    def rotate(self) -> str:
        """Issue a new access token; the old one stops working at once."""
        with self.lock:
            self._token = self._next_token()
            return self._token

    @property
    def token(self) -> str:
        return self._token

    def script(self, path: str, *actions: tuple) -> None:
        with self.lock:
            self._scripts.setdefault(path, []).extend(actions)

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for call in self.calls if call["path"] == path)

    def _next_action(self, path: str):
        with self.lock:
            queue = self._scripts.get(path)
            return queue.pop(0) if queue else None

    def stable_token(self, body: dict) -> tuple[int, dict]:
        appid = body.get("appid")
        if appid not in _CREDENTIALS or body.get("secret") != _CREDENTIALS[appid]:
            return 200, {"errcode": 40013, "errmsg": "invalid appid"}
        if body.get("grant_type") != "client_credential":
            return 200, {"errcode": 40002, "errmsg": "invalid grant_type"}
        time.sleep(self.token_delay)
        if appid == OA_APPID:
            with self.lock:
                if body.get("force_refresh") is True:
                    self._oa_token = "oa-" + self._next_token()
                token = self._oa_token
        else:
            token = self.rotate() if body.get("force_refresh") is True else self._token
        return 200, {"access_token": token, "expires_in": self.token_expires_in}

    # --- the Official Account ------------------------------------------------

    def qrcode_create(self, query: dict, body: dict) -> tuple[int, dict]:
        if query.get("access_token") != self._oa_token:
            return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        scene = (body.get("action_info") or {}).get("scene", {}).get("scene_str")
        expire = body.get("expire_seconds")
        if body.get("action_name") != "QR_STR_SCENE" or not isinstance(scene, str) or not 1 <= len(scene) <= 64 \
                or not isinstance(expire, int) or not 60 <= expire <= 2592000:
            return 200, {"errcode": 40097, "errmsg": "invalid args"}
        url = f"http://weixin.qq.com/q/02{secrets.token_urlsafe(16)}"
        with self.lock:
            self.qrcodes[url] = scene
        return 200, {"ticket": "gQH47joAAAAAAAAAASxodHRw" + secrets.token_urlsafe(12), "expire_seconds": expire,
                     "url": url}

    def user_info(self, query: dict) -> tuple[int, dict]:
        if query.get("access_token") != self._oa_token:
            return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        openid = query.get("openid", "")
        if not openid:
            return 200, {"errcode": 40003, "errmsg": "invalid openid"}
        return 200, {"subscribe": 1, "openid": openid, "language": "zh_CN", "subscribe_time": int(time.time()),
                     "unionid": f"union-{openid}", "remark": "", "groupid": 0, "tagid_list": [],
                     "subscribe_scene": "ADD_SCENE_QR_CODE", "qr_scene": 0, "qr_scene_str": ""}

    @staticmethod
    def event(openid: str, scene: str, *, following: bool = False, create_time: int | None = None) -> bytes:
        """The XML WeChat pushes when `openid` scans a parametric QR of `scene`."""
        key = scene if following else f"qrscene_{scene}"
        return (f"<xml><ToUserName><![CDATA[{OA_ACCOUNT}]]></ToUserName>"
                f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
                f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
                f"<MsgType><![CDATA[event]]></MsgType>"
                f"<Event><![CDATA[{'SCAN' if following else 'subscribe'}]]></Event>"
                f"<EventKey><![CDATA[{key}]]></EventKey>"
                f"<Ticket><![CDATA[gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xLzAy]]></Ticket></xml>").encode()

    @staticmethod
    def push_request(xml: bytes, *, safe: bool = False, openid: str = "", timestamp: int | None = None,
                     nonce: str | None = None, token: str = OA_TOKEN, aes_key: str = OA_AES_KEY,
                     appid: str = OA_APPID) -> Push:
        """The query, body and headers of WeChat's delivery of `xml` (encrypted in safe mode)."""
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or str(secrets.randbelow(10**10))
        query = {"signature": sha1_sorted(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
        if openid:
            query["openid"] = openid
        if safe:
            from wechatpy.crypto import PrpCrypto

            encrypted = PrpCrypto(_aes_key(aes_key)).encrypt(xml.decode(), appid).decode()
            query.update(encrypt_type="aes", msg_signature=sha1_sorted(token, timestamp, nonce, encrypted))
            xml = (f"<xml><ToUserName><![CDATA[{OA_ACCOUNT}]]></ToUserName>"
                   f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>").encode()
        return Push(query, xml, dict(PUSH_HEADERS))

    def push(self, callback_url: str, xml: bytes, **options):
        """Deliver `xml` to the service over HTTP, as WeChat does; the requests response."""
        import requests

        delivery = self.push_request(xml, **options)
        return requests.post(callback_url, params=delivery.query, data=delivery.body, headers=delivery.headers,
                             timeout=5)

    def wxacode(self, query: dict, body: dict) -> tuple[int, dict | bytes]:
        if query.get("access_token") != self._token:
            return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        if body.get("check_path", True) and body.get("page") not in self.pages:
            return 200, {"errcode": 41030, "errmsg": "invalid page"}
        scene = body.get("scene")
        if not isinstance(scene, str) or not _SCENE.fullmatch(scene):
            return 200, {"errcode": 40169, "errmsg": "invalid scene"}
        import segno  # the service's own QR library draws a stand-in image

        out = io.BytesIO()
        segno.make(f"{body.get('page')}?scene={scene}").save(out, kind="png", scale=4)
        return 200, out.getvalue()

    def phone_number(self, query: dict, body: dict) -> tuple[int, dict]:
        if query.get("access_token") != self._token:
            return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        code = body.get("code")
        if not isinstance(code, str):
            return 200, {"errcode": 47001, "errmsg": "data format error"}
        if code.startswith("err-"):
            return 200, {"errcode": int(code[4:]), "errmsg": "fake error"}
        appid = APPID
        if code.startswith("wrongapp-"):
            code, appid = code[len("wrongapp-"):], "wx-another-app"
        parts = code.split("-")
        if parts[0] != "phone" or len(parts) not in (2, 3) or not all(p.isdigit() for p in parts[1:]):
            return 200, {"errcode": 40029, "errmsg": "invalid code"}
        with self.lock:
            if body["code"] in self._used_phone_codes:
                return 200, {"errcode": 40029, "errmsg": "invalid code, code has been used"}
            if self.phone_quota is not None:
                if self.phone_quota <= 0:
                    return 200, {"errcode": 1400001, "errmsg": "quota of getuserphonenumber is used up"}
                self.phone_quota -= 1
            self._used_phone_codes.add(body["code"])
        country, number = (parts[1], parts[2]) if len(parts) == 3 else ("86", parts[1])
        return 200, {"errcode": 0, "errmsg": "ok", "phone_info": {
            "phoneNumber": number if country == "86" else f"+{country}{number}",
            "purePhoneNumber": number,
            "countryCode": country,
            "watermark": {"timestamp": int(time.time()), "appid": appid},
        }}

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def jscode2session(self, query: dict) -> tuple[int, dict | str]:
        if query.get("appid") != APPID or query.get("secret") != SECRET:
            return 200, {"errcode": 40013, "errmsg": "invalid appid"}
        if query.get("grant_type") != "authorization_code":
            return 200, {"errcode": 40002, "errmsg": "invalid grant_type"}
        code = query.get("js_code", "")
        if code.startswith("ok-"):
            name = code[3:]
            return 200, {"openid": f"o-{name}", "unionid": f"u-{name}", "session_key": f"secret-session-key-{name}"}
        if code.startswith("err-"):
            return 200, {"errcode": int(code[4:]), "errmsg": "fake error"}
        if code.startswith("slow-"):
            time.sleep(float(code[5:]))
            return 200, {"openid": "o-slow", "session_key": "sk"}
        if code == "http-500":
            return 500, "internal error"
        if code == "not-json":
            return 200, "<html>gateway</html>"
        return 200, {"errcode": 40029, "errmsg": "invalid code"}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like WeChat

            def do_GET(self):
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                with fake.lock:
                    fake.calls.append({"path": url.path, "query": query})
                if self._scripted(url.path):
                    return
                if url.path == "/sns/jscode2session":
                    status, body = fake.jscode2session(query)
                elif url.path == "/cgi-bin/user/info":
                    status, body = fake.user_info(query)
                else:
                    status, body = 404, {"errcode": 404, "errmsg": "not found"}
                self._send(status, body)

            def do_POST(self):
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                with fake.lock:
                    fake.calls.append({"path": url.path, "query": query, "json": body})
                if self._scripted(url.path):
                    return
                if url.path == "/cgi-bin/stable_token":
                    status, answer = fake.stable_token(body)
                elif url.path == "/wxa/getwxacodeunlimit":
                    status, answer = fake.wxacode(query, body)
                elif url.path == "/cgi-bin/qrcode/create":
                    status, answer = fake.qrcode_create(query, body)

                elif url.path == "/wxa/business/getuserphonenumber":
                    status, answer = fake.phone_number(query, body)
                else:
                    status, answer = 404, {"errcode": 404, "errmsg": "not found"}
                self._send(status, answer)

            def _scripted(self, path) -> bool:
                """Play the next scripted action for `path`; True when it answered (or hung up)."""
                action = fake._next_action(path)
                if action is None:
                    return False
                kind = action[0]
                if kind == "sleep":
                    time.sleep(action[1])
                    return False
                if kind == "errcode":
                    self._send(200, {"errcode": action[1], "errmsg": "scripted error"})
                elif kind == "http":
                    self._send(action[1], "scripted failure")
                elif kind == "close":
                    self.close_connection = True
                else:
                    raise ValueError(f"unknown scripted action {action!r}")
                return True

            def _send(self, status, body):
                if isinstance(body, dict):
                    payload, content_type = json.dumps(body).encode(), "application/json"
                elif isinstance(body, bytes):
                    payload, content_type = body, "image/png"
                else:
                    payload, content_type = body.encode(), "text/html"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        return Handler
