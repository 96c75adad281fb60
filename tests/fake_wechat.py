"""A stand-in for WeChat's API: a real HTTP server on 127.0.0.1 that answers like WeChat.

Codes the fake understands for /sns/jscode2session:
  ok-<name>       -> openid "o-<name>" (and unionid "u-<name>")
  err-<errcode>   -> {"errcode": <errcode>, "errmsg": "..."} with HTTP 200, as WeChat does
  slow-<seconds>  -> answers after that many seconds
  anything else   -> errcode 40029 (invalid code)
Every request is recorded in `calls`.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

APPID = "wx-test-appid"
SECRET = "wx-test-secret"


class FakeWeChat:
    def __init__(self):
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # clients that gave up (timeouts)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

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
            def do_GET(self):
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                with fake.lock:
                    fake.calls.append({"path": url.path, "query": query})
                if url.path == "/sns/jscode2session":
                    status, body = fake.jscode2session(query)
                else:
                    status, body = 404, {"errcode": 404, "errmsg": "not found"}
                payload = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if isinstance(body, dict) else "text/html")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        return Handler
