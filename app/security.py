"""Random secrets and how they are stored: only as hashes, compared in constant time."""
import hashlib
import hmac
import secrets


def new_ticket_id() -> str:
    """128 bits from the OS CSPRNG, URL-safe base64: 22 characters."""
    return secrets.token_urlsafe(16)


def new_secret() -> str:
    """256-bit secret for cookies (browser binding, login session)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    # The secrets are 256-bit random values, so a plain SHA-256 cannot be
    # brute-forced; a slow password hash would only cost time on every request.
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str | None, stored_hash: str | None) -> bool:
    if not secret or not stored_hash:
        return False
    return hmac.compare_digest(hash_secret(secret), stored_hash)
