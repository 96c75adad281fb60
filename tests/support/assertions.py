"""Checks and steps many tests share: one JSON error shape, checked one way."""
import sqlalchemy as sa
from prometheus_client import REGISTRY


def assert_error(response, status, code=None):
    assert response.status_code == status
    assert response.is_json
    error = response.get_json()["error"]
    assert set(error) == {"code", "message"} and error["message"]
    if code:
        assert error["code"] == code


def log_in(browser, phone):
    """A whole login: the browser's ticket scanned and confirmed by the phone, picked up by a poll."""
    ticket = browser.post("/api/tickets").get_json()
    phone.scan(ticket["ticket_id"])
    phone.confirm(ticket["ticket_id"])
    response = browser.get(f"/api/tickets/{ticket['ticket_id']}")
    assert response.get_json()["status"] == "confirmed"
    return response


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


def sample(name, **labels) -> float:
    """A metric's current value in this process (0 before it is first counted)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
