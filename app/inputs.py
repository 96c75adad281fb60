"""Reading request input: JSON bodies, query parameters and who sent them; bad input is a clear 400."""
import ipaddress
from urllib.parse import urlsplit

from flask import current_app, request

from . import errors

# What a cross-site HTML form can send without a CORS preflight.
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")


def read_body_first() -> None:
    """Read the whole body before anything else runs (the token check, any query).

    A view that takes a database connection and then reads the body would hold the
    connection while a slow client trickles its bytes in: a few dozen such clients
    would hold the whole pool. Here the body is read while the request holds
    nothing, bounded by MAX_CONTENT_LENGTH (413) and, under gevent workers, by
    BODY_TIMEOUT_SECONDS (408).
    """
    if request.content_length == 0 or request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if not _green():  # a thread or process per request: a slow body blocks only itself
        request.get_data(cache=True)
        return
    from gevent import Timeout

    deadline = Timeout(current_app.config["BODY_TIMEOUT_SECONDS"])
    try:
        with deadline:
            request.get_data(cache=True)
    except Timeout as exc:
        if exc is not deadline:
            raise
        raise errors.BodyTimeout() from None


def _green() -> bool:
    """True in a gevent worker (sockets patched), where one greenlet serves each request."""
    from gevent import monkey

    return monkey.is_module_patched("socket")


def client_ip() -> str:
    # request.remote_addr is the peer, or the client ProxyFix vouched for when
    # the deployment configured its proxy hops.
    return (request.remote_addr or "")[:64]


def client_key() -> str:
    """Who a per-client limit counts: the address, or its /64 for IPv6.

    One IPv6 subscriber is handed a whole /64 (2^64 addresses), so counting single
    addresses would give them endless allowances.
    """
    address = client_ip()
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"  # never empty: an empty key turns a limit off
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is that IPv4 address
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))


def user_agent() -> str:
    return request.headers.get("User-Agent", "")[:512]


def require_json() -> None:
    """Refuse a body that is not JSON: a cross-site HTML form cannot send JSON without a preflight."""
    if not request.is_json:
        raise errors.UnsupportedMediaType()


def same_site_only() -> None:
    """Refuse what another site's page made the browser send (a form post, a script's fetch).

    Browsers say where a request comes from (Sec-Fetch-Site, Origin); tools such as
    curl send neither and are not a browser that could be tricked, so they pass.
    A form's body types are refused outright: no page of ours sends them.
    """
    if request.mimetype in FORM_TYPES:
        raise errors.UnsupportedMediaType("Send no body, or a JSON one.")
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        raise errors.CrossSiteRequest()
    origin = request.headers.get("Origin")
    if origin is not None and origin != _own_origin():
        raise errors.CrossSiteRequest()


def _own_origin() -> str:
    base = current_app.config.get("PUBLIC_BASE_URL") or request.host_url
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}"


def json_body() -> dict:
    """The request's JSON object. Form posts (e.g. cross-site forms) are refused."""
    require_json()
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser goes: bad input, not a crash
        raise errors.InvalidRequest("The JSON is nested too deeply.") from None
    if not isinstance(data, dict):
        raise errors.InvalidRequest("The body must be a JSON object.")
    return data  # unknown fields are ignored


def text_field(data: dict, name: str, *, max_len: int, required: bool = True, min_len: int = 1) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise errors.InvalidRequest(f"'{name}' is required.")
        return None
    if not isinstance(value, str):
        raise errors.InvalidRequest(f"'{name}' must be a string.")
    value = value.strip()
    if not (min_len <= len(value) <= max_len):
        raise errors.InvalidRequest(f"'{name}' must be {min_len} to {max_len} characters.")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise errors.InvalidRequest(f"'{name}' must not contain control characters.")
    return value


def number_arg(name: str, *, default: float, low: float, high: float) -> float:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise errors.InvalidRequest(f"'{name}' must be a number from {low:g} to {high:g}.") from None
    if not (low <= value <= high):  # also refuses nan and inf
        raise errors.InvalidRequest(f"'{name}' must be a number from {low:g} to {high:g}.")
    return value


def choice_arg(name: str, choices) -> str | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        raise errors.InvalidRequest(f"'{name}' must be one of: {', '.join(choices)}.")
    return raw


def public_base_url() -> str:
    """Where people reach the service: PUBLIC_BASE_URL, or the address this request came to."""
    return current_app.config["PUBLIC_BASE_URL"] or request.host_url.rstrip("/")
