"""The one clock of the service.

Every expiry decision reads `utcnow()`. Tests move time by replacing `_source`
(see the `clock` fixture), never by sleeping.
"""
from datetime import datetime, timezone


def _source() -> datetime:
    return datetime.now(timezone.utc)


def utcnow() -> datetime:
    """Timezone-aware current time in UTC."""
    return _source()
