"""Small helpers shared by the security property tests."""
import sqlite3

from ..test_inputs import assert_error  # noqa: F401  (one JSON error shape, checked one way)
from ..test_sessions import log_in  # noqa: F401


def cookie_value(response, name: str) -> str | None:
    """The value a response sets for cookie `name`, or None."""
    for header in response.headers.getlist("Set-Cookie"):
        key, _, rest = header.partition("=")
        if key == name:
            return rest.split(";", 1)[0]
    return None


def database_text(config) -> str:
    """Every row of every table, as SQL text: what someone with a copy of the database sees."""
    path = config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    connection = sqlite3.connect(path)
    try:
        return "\n".join(connection.iterdump())
    finally:
        connection.close()
