"""The sites this service guards for a reverse proxy, and who may enter each one.

A reverse proxy (nginx `auth_request`, Caddy `forward_auth`, Traefik ForwardAuth) asks
/auth/verify before every request to a protected site. This module holds what the
answer depends on, apart from HTTP:

- which hosts are protected: `FORWARD_AUTH_HOSTS`, host names, where `.corp.example`
  stands for every subdomain of corp.example;
- which groups may enter a host, or a path under it: the rules (`FORWARD_AUTH_RULES`,
  or a file named by `FORWARD_AUTH_RULES_FILE`), one per line:

      # host[/path-prefix]        = groups (any one of them; * = anyone allowed in)
      grafana.corp.example        = ops, admins
      wiki.corp.example/admin     = admins
      .corp.example               = staff

  The most specific host wins (an exact name before `.corp.example`), then the longest
  path prefix. A host without a rule admits anyone the access policy lets in.
- where the login page may send a browser back to (`rd`): only a protected host.

Everything is checked once, at start-up; each mistake is one line of the ConfigError.
"""
import posixpath
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

ANYONE = "*"
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$")
MAX_URL_LENGTH = 2048


class SitesError(ValueError):
    """The settings name sites or rules that cannot work; one line per mistake."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Rule:
    host: str  # "wiki.corp.example", or ".corp.example" for every subdomain
    path: str  # "/" for the whole host
    groups: tuple[str, ...]  # empty: anyone the access policy lets in

    def covers(self, host: str, path: str) -> bool:
        return host_matches(self.host, host) and (
            self.path == "/" or path == self.path or path.startswith(self.path.rstrip("/") + "/"))

    @property
    def rank(self) -> tuple:
        # An exact host beats a subdomain pattern; a longer pattern or path is more specific.
        return (not self.host.startswith("."), len(self.host), len(self.path))


def host_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("."):
        return host.endswith(pattern) and len(host) > len(pattern)
    return host == pattern


class ProtectedSites:
    def __init__(self, hosts: tuple[str, ...] = (), rules: tuple[Rule, ...] = ()):
        self.hosts = hosts
        self.rules = tuple(sorted(rules, key=lambda r: r.rank, reverse=True))

    def __bool__(self) -> bool:
        return bool(self.hosts)

    def protects(self, host: str | None) -> bool:
        return bool(host) and any(host_matches(pattern, host) for pattern in self.hosts)

    def groups_for(self, host: str, path: str) -> tuple[str, ...]:
        """The groups that may enter (any one of them); empty means anyone allowed in at all."""
        path = normal_path(path)
        for rule in self.rules:
            if rule.covers(host, path):
                return rule.groups
        return ()

    def return_url(self, url: str | None) -> str | None:
        """`url` when it is an address on a protected site, so a browser may be sent there; else None."""
        parts = parse_url(url)
        if parts is None or not self.protects(parts.hostname):
            return None
        return url

    def within_domain(self, domain: str) -> list[str]:
        """The protected hosts a cookie for `domain` (".corp.example") would not reach."""
        return [h for h in self.hosts if not (h == domain.lstrip(".") or h.endswith(domain))]


def parse_url(url: str | None):
    """The parts of an absolute http(s) URL a browser reads the same way we do; None for anything else.

    Refused: other schemes (javascript:, data:), protocol-relative //host, user info
    (https://corp.example@evil.test), backslashes, whitespace and control characters
    (browsers drop some of them, so the host they see differs from ours), odd ports.
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        return None
    if any(ord(c) <= 32 or ord(c) >= 127 for c in url) or "\\" in url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number from 0 to 65535)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not url.startswith(parts.scheme + "://"):
        return None
    if "@" in parts.netloc or not parts.hostname or not _HOST.match(parts.hostname):
        return None
    if parts.netloc.lower() not in (parts.hostname, f"{parts.hostname}:{parts.port}"):
        return None  # e.g. a trailing dot or an empty port: the browser's host is not ours
    return parts


def normal_path(path: str) -> str:
    """The path as the site behind the proxy will read it: decoded, dot segments and // resolved.

    Rules match on this form, so /wiki/%61dmin and /wiki/x/../admin meet the /wiki/admin rule.
    """
    path = unquote(path.split("?", 1)[0].split("#", 1)[0] or "/")
    resolved = posixpath.normpath("/" + path.lstrip("/"))
    resolved = "/" + resolved.lstrip("/")  # normpath keeps a leading //
    return resolved + "/" if path.endswith("/") and resolved != "/" else resolved


# --- reading the settings -------------------------------------------------------

HOSTS_HELP = "write host names like wiki.corp.example, or .corp.example for every subdomain"


def load(hosts_text: str | None, rules_text: str | None, rules_source: str = "FORWARD_AUTH_RULES") -> ProtectedSites:
    """Parse both settings; raises SitesError naming every mistake, one per line."""
    problems: list[str] = []
    hosts = _parse_hosts(hosts_text or "", problems)
    rules = _parse_rules(rules_text or "", rules_source, hosts, problems)
    if rules and not hosts and not problems:
        problems.append(f"{rules_source} is set but FORWARD_AUTH_HOSTS is empty: name the protected hosts first")
    if problems:
        raise SitesError(problems)
    return ProtectedSites(hosts, rules)


def _parse_hosts(text: str, problems: list[str]) -> tuple[str, ...]:
    hosts: list[str] = []
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        bare = name[1:] if name.startswith(".") else name
        if not _HOST.match(bare):
            problems.append(f"FORWARD_AUTH_HOSTS: {raw.strip()!r} is not a host name ({HOSTS_HELP})")
        elif name.startswith(".") and "." not in bare:
            problems.append(f"FORWARD_AUTH_HOSTS: {raw.strip()!r} would cover a whole top-level domain")
        elif name not in hosts:
            hosts.append(name)
    return tuple(hosts)


def _parse_rules(text: str, source: str, hosts: tuple[str, ...], problems: list[str]) -> tuple[Rule, ...]:
    rules: dict[tuple[str, str], Rule] = {}
    from_file = source != "FORWARD_AUTH_RULES"
    lines = text.splitlines() if from_file else text.replace(";", "\n").splitlines()
    for number, line in enumerate(lines, start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source} {'line' if from_file else 'rule'} {number}" if len(lines) > 1 else source
        target, sep, names = line.partition("=")
        target, names = target.strip(), names.strip()
        if not sep or not target or not names:
            problems.append(f"{where}: {line!r} must look like 'wiki.corp.example/admin = admins, ops'")
            continue
        host, slash, path = target.partition("/")
        host, path = host.lower(), "/" + path
        bare = host[1:] if host.startswith(".") else host
        groups = tuple(sorted({g.strip() for g in names.split(",") if g.strip()}))
        if not _HOST.match(bare):
            problems.append(f"{where}: {host!r} is not a host name ({HOSTS_HELP})")
        elif hosts and not _covered(host, hosts):
            problems.append(f"{where}: {host!r} is not one of FORWARD_AUTH_HOSTS ({', '.join(hosts)})")
        elif not _PATH.match(path) or "//" in path or {".", ".."} & set(path.split("/")):
            problems.append(f"{where}: {path!r} is not a plain path prefix (no %, .., // or ?)")
        elif ANYONE in groups and len(groups) > 1:
            problems.append(f"{where}: '*' (anyone allowed in) cannot be combined with groups")
        elif bad := [g for g in groups if g != ANYONE and not _GROUP.match(g)]:
            problems.append(f"{where}: {bad[0]!r} is not a group name (letters, digits, '_', '.', '-')")
        elif (host, path.rstrip("/") or "/") in rules:
            problems.append(f"{where}: a second rule for {target!r}")
        else:
            key = (host, path.rstrip("/") or "/")
            rules[key] = Rule(host, key[1], () if groups == (ANYONE,) else groups)
    return tuple(rules.values())


def _covered(host: str, hosts: tuple[str, ...]) -> bool:
    if host.startswith("."):  # a pattern must sit inside a protected pattern
        return any(p.startswith(".") and (host == p or host.endswith(p)) for p in hosts)
    return any(host_matches(p, host) for p in hosts)
