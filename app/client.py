"""Log a script or a terminal in by scan: the PC side of the flow, without a browser.

    client = QrLoginClient("https://login.example.com")
    ticket = client.create_ticket()
    print(qr.terminal_text(ticket["qr_content"]))
    result = client.wait(ticket)          # long-polls until the phone decides
    if result.logged_in: use result.cookie_name / result.cookie_value

`qrlogin login --server URL` (installed with the package) wraps this for the terminal;
it needs none of the server's settings.
"""
import os
import random
import sys
import time
from dataclasses import dataclass

import click
import requests

from . import qr

FINAL = ("confirmed", "consumed", "cancelled", "expired")
COOKIE_NAMES = ("__Host-qrl_session", "qrl_session")


class LoginFailed(RuntimeError):
    """The server could not be reached or answered something unexpected."""


@dataclass
class LoginResult:
    status: str                       # confirmed, cancelled or expired
    user: dict | None = None          # the user now logged in (confirmed only)
    cookie_name: str | None = None
    cookie_value: str | None = None

    @property
    def logged_in(self) -> bool:
        return self.cookie_value is not None


class QrLoginClient:
    """One browser-like client: holds the binding cookie and, after a confirm, the session cookie."""

    def __init__(self, server: str, session: requests.Session | None = None, max_failures: int = 6):
        self.server = server.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", f"qrlogin-cli python-requests/{requests.__version__}")
        self.max_failures = max_failures

    def create_ticket(self) -> dict:
        try:
            response = self._send("POST", "/api/tickets", timeout=10)
        except requests.RequestException as exc:
            raise LoginFailed(f"{self.server} cannot be reached: {exc}") from exc
        if response.status_code != 201:
            raise LoginFailed(_error_text(response))
        return response.json()

    def wait(self, ticket: dict, on_change=None) -> LoginResult:
        """Long-poll until the ticket is confirmed, cancelled or expired; on_change(body) sees every new state."""
        status, failures = ticket["status"], 0
        max_wait = ticket.get("poll_max_wait", 25)
        while status not in FINAL:
            try:
                response = self._send("GET", f"/api/tickets/{ticket['ticket_id']}",
                                      params={"wait": max_wait, "since": status}, timeout=max_wait + 10)
            except requests.RequestException as exc:
                failures += 1
                if failures > self.max_failures:
                    raise LoginFailed(f"{self.server} cannot be reached: {exc}") from exc
                # Back off with jitter, like the login page: a restarting server is not hammered.
                time.sleep(min(30, 2 ** (failures - 1)) * random.uniform(0.8, 1.2))
                continue
            if response.status_code != 200:
                raise LoginFailed(_error_text(response))
            failures = 0
            body = response.json()
            if body["status"] != status and on_change is not None:
                on_change(body)
            status = body["status"]
        if status in ("confirmed", "consumed"):
            return self._logged_in()
        return LoginResult(status=status)

    def _logged_in(self) -> LoginResult:
        for name in COOKIE_NAMES:
            value = self.session.cookies.get(name)
            if value:
                me = self._send("GET", "/api/me", timeout=10)
                user = me.json()["user"] if me.status_code == 200 else None
                return LoginResult("confirmed", user, name, value)
        raise LoginFailed("The login was confirmed but no session cookie arrived.")

    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.server + path, **kwargs)


def _error_text(response: requests.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{response.status_code} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code} from the server"


def run(server: str, cookie_file: str | None, echo=print) -> int:
    """The terminal flow: show the QR, report each step, print or save the session cookie. Exit status."""
    client = QrLoginClient(server)
    ticket = client.create_ticket()
    echo(qr.terminal_text(ticket["qr_content"]))
    echo(f"Scan this code with the mini-program to log in (it expires in {ticket['expires_in']} s).")
    echo(f"QR link: {ticket['qr_content']}")

    def on_change(body):
        if body["status"] == "scanned":
            who = (body.get("scanned_by") or {}).get("nickname") or "someone"
            echo(f"Scanned by {who}. Confirm on the phone.")

    result = client.wait(ticket, on_change)
    if not result.logged_in:
        echo({"cancelled": "Login was cancelled on the phone.", "expired": "The code expired."}[result.status])
        return 1
    name = (result.user or {}).get("nickname") or f"user {(result.user or {}).get('id')}"
    echo(f"Logged in as {name}.")
    if cookie_file:
        fd = os.open(cookie_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"{result.cookie_name}={result.cookie_value}\n")
        echo(f"Session cookie saved to {cookie_file}.")
    else:
        echo(f"{result.cookie_name}={result.cookie_value}")
    return 0


@click.group(help="Log in to a scan-to-login service from a terminal.")
def main():
    pass


@main.command("login")
@click.option("--server", default="http://127.0.0.1:8000", show_default=True, help="The service to log in to.")
@click.option("--cookie-file", type=click.Path(dir_okay=False, writable=True),
              help="Save the session cookie (name=value) here instead of printing it.")
def login(server: str, cookie_file: str | None):
    """Show a login QR in the terminal, wait for the phone, then print or save the session cookie."""
    try:
        status = run(server, cookie_file, echo=click.echo)
    except LoginFailed as exc:
        raise click.ClickException(f"Login failed: {exc}") from exc
    sys.exit(status)


if __name__ == "__main__":
    main()
