"""Reading request input: JSON bodies, query parameters and who sent them; bad input is a clear 400."""
from flask import current_app, request

from . import errors


def client_ip() -> str:
    # request.remote_addr is the peer, or the client ProxyFix vouched for when
    # the deployment configured its proxy hops.
    return (request.remote_addr or "")[:64]


def user_agent() -> str:
    return request.headers.get("User-Agent", "")[:512]


def require_json() -> None:
    """Refuse a body that is not JSON: a cross-site HTML form cannot send JSON without a preflight."""
    if not request.is_json:
        raise errors.UnsupportedMediaType()


def json_body() -> dict:
    """The request's JSON object. Form posts (e.g. cross-site forms) are refused."""
    require_json()
    data = request.get_json(silent=True)
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
