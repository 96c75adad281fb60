"""Property 2: ticket ids carry at least 128 bits from `secrets`, are at most 32 characters and
are chosen by the server only. Stops the study's "predictable id" and "client-chosen id" flaws."""
import base64

from app import security

from ..support.assertions import assert_error


def test_property_02_ticket_ids_have_128_random_bits_in_at_most_32_chars(app):
    ids = {app.test_client().post("/api/tickets").get_json()["ticket_id"] for _ in range(15)}
    assert len(ids) == 15
    for ticket_id in ids:
        assert len(ticket_id) <= 32
        raw = base64.urlsafe_b64decode(ticket_id + "=" * (-len(ticket_id) % 4))
        assert len(raw) * 8 >= 128


def test_property_02_ticket_ids_come_from_the_secrets_module(monkeypatch, app):
    calls = []

    def fake_token_urlsafe(nbytes):
        calls.append(nbytes)
        return "from-secrets-" + str(len(calls))

    monkeypatch.setattr(security.secrets, "token_urlsafe", fake_token_urlsafe)
    ticket_id = app.test_client().post("/api/tickets").get_json()["ticket_id"]
    assert ticket_id.startswith("from-secrets-")
    assert 16 in calls  # 16 bytes = 128 bits for the ticket id


def test_property_02_a_client_supplied_ticket_id_is_ignored(browser):
    chosen = "attacker-chosen-id"
    created = browser.post(f"/api/tickets?ticket_id={chosen}&id={chosen}",
                           json={"ticket_id": chosen, "id": chosen})
    assert created.status_code == 201
    assert created.get_json()["ticket_id"] != chosen
    assert_error(browser.get(f"/api/tickets/{chosen}"), 404, "ticket_not_found")
