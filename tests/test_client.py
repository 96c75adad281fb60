"""`qrlogin login`: a terminal logs in by scan against the real server, a phone driven by requests.

The client is the console script installed with the package; it runs with none of the
server's settings in its environment (a person's laptop has no SECRET_KEY).
"""
import os
import re
import subprocess

import requests

from app import qr
from bench.live_server import BIN, ROOT

from .support.live import LivePhone


def client_env() -> dict:
    """A laptop's environment: no service settings at all, and not the project's folder."""
    server_settings = ("APP_ENV", "SECRET_KEY", "DATABASE_URL", "WECHAT_APPID", "WECHAT_SECRET", "FLASK_APP")
    return {**{k: v for k, v in os.environ.items() if k not in server_settings}, "PYTHONUNBUFFERED": "1"}


def start_cli(server, *args):
    return subprocess.Popen([str(BIN / "qrlogin"), "login", "--server", server.url, *args], cwd="/",
                            env=client_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def read_until_qr_link(process) -> tuple[str, str]:
    """The output up to the QR link line, and the ticket id in that link."""
    seen = ""
    for line in process.stdout:
        seen += line
        found = re.match(r"QR link: (\S+/qr/([A-Za-z0-9_-]+))$", line.strip())
        if found:
            assert qr.terminal_text(found.group(1)) in seen  # the terminal shows the QR of that link
            return seen, found.group(2)
    raise AssertionError(f"no QR link in the output:\n{seen}")


def finish(process) -> tuple[int, str]:
    out, _ = process.communicate(timeout=30)
    return process.returncode, out


def test_terminal_logs_in_when_the_phone_confirms(live_server, tmp_path):
    cookie_file = tmp_path / "cookie"
    process = start_cli(live_server, "--cookie-file", str(cookie_file))
    _, ticket_id = read_until_qr_link(process)

    phone = LivePhone(live_server, "terminal-user").login()
    phone.set_profile(nickname="Terminal User")
    assert phone.scan(ticket_id).status_code == 200
    assert process.stdout.readline().strip() == "Scanned by Terminal User. Confirm on the phone."
    assert phone.confirm(ticket_id).status_code == 200

    code, out = finish(process)
    assert code == 0, out
    assert "Logged in as Terminal User." in out
    assert oct(cookie_file.stat().st_mode & 0o777) == "0o600"
    name, value = cookie_file.read_text().strip().split("=", 1)
    me = requests.get(live_server.url + "/api/me", cookies={name: value}, timeout=10)
    assert me.status_code == 200 and me.json()["user"]["id"] == phone.user["id"]


def test_terminal_reports_a_cancel_and_gets_no_session(live_server):
    process = start_cli(live_server)
    _, ticket_id = read_until_qr_link(process)

    phone = LivePhone(live_server, "terminal-canceller").login()
    phone.scan(ticket_id)
    assert phone.cancel(ticket_id).status_code == 200

    code, out = finish(process)
    assert code == 1
    assert "Login was cancelled on the phone." in out
    assert "qrl_session" not in out


def test_terminal_says_when_the_server_cannot_be_reached(tmp_path):
    result = subprocess.run([str(BIN / "qrlogin"), "login", "--server", "http://127.0.0.1:9"],
                            cwd="/", env=client_env(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Login failed: http://127.0.0.1:9 cannot be reached")
    assert "Traceback" not in result.stderr


def test_terminal_client_help_needs_no_server_settings():
    result = subprocess.run([str(BIN / "qrlogin"), "login", "--help"], cwd="/", env=client_env(),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "--server" in result.stdout and "Traceback" not in result.stderr
