"""Real relying parties, started by the tests on loopback ports: Apache with mod_auth_openidc,
and the service registering them (`flask oidc add-client` against a live server)."""
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from bench.live_server import BIN, ROOT, free_port

from ..support.live import require_tool

APACHE = "/usr/sbin/apache2"
MODULES = "/usr/lib/apache2/modules"


def add_client(server, *args) -> dict:
    """`flask oidc add-client ...` against the live server's database, as an operator runs it."""
    result = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "oidc", "add-client", *args], cwd=ROOT,
                            env=server.env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


class Apache:
    """Apache httpd with mod_auth_openidc protecting /protected/, in its own ServerRoot and pid file.

    The protected page is a server-side include that prints the sub claim mod_auth_openidc saw.
    """

    def __init__(self, issuer: str):
        require_tool(APACHE, "install Debian's apache2 and libapache2-mod-auth-openidc")
        if not Path(MODULES, "mod_auth_openidc.so").exists():
            require_tool("mod_auth_openidc.so", "install Debian's libapache2-mod-auth-openidc")
        self.issuer = issuer
        self.port = free_port()
        # The worker runs as nobody: its files live in a world-readable folder of their own.
        self.root = Path(tempfile.mkdtemp(prefix="apache-oidc-"))
        self.root.chmod(0o755)
        self.url = f"http://localhost:{self.port}"
        self.redirect_uri = f"{self.url}/protected/redirect_uri"
        self.proc = None

    def configure(self, client_id: str, client_secret: str) -> "Apache":
        docs = self.root / "htdocs" / "protected"
        docs.mkdir(parents=True)
        docs.chmod(0o755)
        (self.root / "htdocs").chmod(0o755)
        page = docs / "index.shtml"
        page.write_text('<p id="sub">sub=<!--#echo var="OIDC_CLAIM_sub" --></p>\n'
                        '<p id="name">name=<!--#echo var="OIDC_CLAIM_name" --></p>\n')
        page.chmod(0o644)
        modules = ["mpm_prefork", "authz_core", "authz_user", "authn_core", "auth_openidc", "include", "mime", "dir"]
        loads = "\n".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in modules)
        (self.root / "httpd.conf").write_text(f"""
ServerRoot "{self.root}"
{loads}
Listen 127.0.0.1:{self.port}
ServerName localhost
User nobody
Group nogroup
PidFile "{self.root}/httpd.pid"
ErrorLog "{self.root}/error.log"
LogLevel warn auth_openidc:info
DocumentRoot "{self.root}/htdocs"
DirectoryIndex index.shtml
TypesConfig /etc/mime.types
AddType text/html .shtml
AddOutputFilter INCLUDES .shtml
Mutex file:{self.root}
StartServers 1
MinSpareServers 1
MaxSpareServers 2

OIDCProviderMetadataURL {self.issuer}/.well-known/openid-configuration
OIDCClientID {client_id}
OIDCClientSecret {client_secret}
OIDCRedirectURI {self.redirect_uri}
OIDCCryptoPassphrase {secrets.token_hex(16)}
OIDCScope "openid profile"
OIDCPKCEMethod S256
OIDCCookieSameSite On

<Directory "{self.root}/htdocs">
  Options +Includes
  Require all granted
</Directory>
<Location /protected>
  AuthType openid-connect
  Require valid-user
</Location>
""")
        return self

    def start(self) -> "Apache":
        self.proc = subprocess.Popen([APACHE, "-f", str(self.root / "httpd.conf"), "-DFOREGROUND"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"apache2 exited: {self.proc.stdout.read().decode()} {self.log()}")
            try:
                requests.get(self.url + "/", timeout=0.5)
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"apache2 did not start: {self.log()}")

    def log(self) -> str:
        path = self.root / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
