"""Small helpers shared by the security property tests."""
import sqlalchemy as sa

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
    """Every row of every table, as text: what someone with a copy of the database sees."""
    engine = sa.create_engine(config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as conn:
            return "\n".join(
                repr(tuple(row))
                for table in sa.inspect(conn).get_table_names()
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"'))
            )
    finally:
        engine.dispose()
