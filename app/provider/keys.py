"""The provider's signing keys: RS256, generated once, kept in a JSON file, published with their kid.

The file (OIDC_KEYS_FILE, default instance/oidc_keys.json) holds a list, newest first:
the first key signs, every key is published at /jwks. A restart never changes a
published key (relying parties such as mod_auth_openidc cache keys by kid).
`flask oidc rotate-key` puts a new key first; the old ones stay published so
id tokens they signed still verify, and are dropped a day after they stopped signing.
"""
import json
import os
import secrets
import tempfile
import threading
from datetime import datetime, timedelta

from flask import current_app
from joserfc.jwk import KeySet, RSAKey

from .. import clock

# Longer than any id token lives (OIDC_ID_TOKEN_TTL_SECONDS is capped below it).
RETIRED_KEYS_KEPT_FOR = timedelta(days=1)

_cache: dict[str, tuple[float, list[dict]]] = {}
_lock = threading.Lock()


def _path() -> str:
    return current_app.config["OIDC_KEYS_FILE"]


def _new_key() -> dict:
    kid = clock.utcnow().strftime("%Y%m%d") + "-" + secrets.token_hex(4)
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True)
    return {**key.as_dict(private=True), "created_at": clock.utcnow().isoformat(timespec="seconds")}


def _write_new(path: str, keys: list[dict], replace: bool) -> None:
    """Write atomically; without `replace`, only if no file exists (two workers may race at start)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".oidc_keys.")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump({"keys": keys}, out, indent=1)
        os.chmod(tmp, 0o600)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if another process wrote it first: theirs wins
            except FileExistsError:
                pass
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load() -> list[dict]:
    path = _path()
    if not os.path.exists(path):
        _write_new(path, [_new_key()], replace=False)
    mtime = os.stat(path).st_mtime
    with _lock:
        cached = _cache.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
    with open(path) as source:
        keys = json.load(source)["keys"]
    if not keys:
        raise RuntimeError(f"{path} holds no signing key")
    with _lock:
        _cache[path] = (mtime, keys)
    return keys


def _jwk(data: dict) -> RSAKey:
    params = {k: v for k, v in data.items() if k not in ("created_at", "retired_at")}
    return RSAKey.import_key(params)


def signing_key() -> RSAKey:
    return _jwk(_load()[0])


def signing_kid() -> str:
    return _load()[0]["kid"]


def public_jwks() -> dict:
    """The JWK Set served at /jwks: every kept key, public parts only."""
    return {"keys": [_jwk(data).as_dict(private=False) | {"kid": data["kid"], "use": "sig", "alg": "RS256"}
                     for data in _load()]}


def public_key_set() -> KeySet:
    return KeySet.import_key_set(public_jwks())


def rotate() -> dict:
    """Start signing with a new key; keep the old ones published. Returns what is published."""
    keys = [dict(k) for k in _load()]
    now = clock.utcnow()
    for data in keys:
        data.setdefault("retired_at", now.isoformat(timespec="seconds"))
    kept = [k for k in keys if now - datetime.fromisoformat(k["retired_at"]) < RETIRED_KEYS_KEPT_FOR]
    _write_new(_path(), [_new_key(), *kept], replace=True)
    _cache.pop(_path(), None)
    return {"signing_kid": signing_kid(), "published_kids": [k["kid"] for k in _load()]}

