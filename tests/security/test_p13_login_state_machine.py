"""Property 13 (second half): a hypothesis state machine plays creators, two phones and strangers
against the real app in-process, in any order, while the clock moves; phones log out (or out
everywhere) and sign in again, and PCs drop scanned codes. Whatever happens: at most one session per
ticket, a ticket's status only moves forward, strangers never get a session, a logged-out phone's
token is refused with token_revoked and changes nothing, no 5xx."""
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from app import create_app
from app.extensions import db
from app.models import LoginSession

from ..support.apps import NO_LIMITS
from ..support.assertions import cookie_value
from ..support.phone import Phone

# Every status a ticket may show next, given the one seen last (the state diagram in app/models.py).
FORWARD = {
    "pending": {"pending", "scanned", "confirmed", "consumed", "cancelled", "expired"},
    "scanned": {"scanned", "confirmed", "consumed", "cancelled", "expired"},
    "confirmed": {"confirmed", "consumed", "cancelled", "expired"},  # the PC may still drop it
    "consumed": {"consumed"},
    "cancelled": {"cancelled"},
    "expired": {"expired"},
}
STEP_ANSWERS = {200, 403, 409, 410}  # what scan/confirm/cancel may answer on a real ticket


STATS = {}


class Ticket:
    def __init__(self, ticket_id, browser):
        self.id = ticket_id
        self.browser = browser
        self.seen = "pending"
        self.sessions = 0

    def saw(self, status):
        assert status in FORWARD[self.seen], f"{self.id}: {self.seen} -> {status}"
        self.seen = status


# Which ticket a step acts on: mostly the newest, sometimes an older one.
AGES = st.sampled_from([0, 0, 0, 1, 2])
USERS = st.sampled_from([0, 1])


def build_machine(app, phones, clock):
    class LoginFlow(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.all = []
            self.stranger = app.test_client()
            self.revoked = set()  # phones whose token was revoked by a logout
            for phone in phones:
                phone.login()

        @initialize()
        def first_ticket(self):
            self.create()

        @rule()
        def create(self):
            browser = app.test_client()
            response = browser.post("/api/tickets")
            assert response.status_code == 201
            self.all.append(Ticket(response.get_json()["ticket_id"], browser))

        def _ticket(self, age):
            return self.all[-1 - min(age, len(self.all) - 1)]

        def _step(self, ticket, who, action):
            response = phones[who].post(ticket.id, action)
            if who in self.revoked:
                assert response.status_code == 401 and response.get_json()["error"]["code"] == "token_revoked"
                return
            assert response.status_code in STEP_ANSWERS, response.get_json()
            if response.status_code == 200:
                ticket.saw(response.get_json()["status"])
                if action == "scan":
                    ticket.scanner = who

        def _by(self, ticket, scanner):
            # The person who scanned, or the other one: both must be tried.
            mine = getattr(ticket, "scanner", 0)
            return mine if scanner else 1 - mine

        @rule(age=AGES, who=USERS)
        def scan(self, age, who):
            self._step(self._ticket(age), who, "scan")

        @rule(age=AGES, scanner=st.booleans())
        def confirm(self, age, scanner):
            ticket = self._ticket(age)
            self._step(ticket, self._by(ticket, scanner), "confirm")

        @rule(age=AGES, scanner=st.booleans())
        def cancel(self, age, scanner):
            ticket = self._ticket(age)
            self._step(ticket, self._by(ticket, scanner), "cancel")

        @rule(age=AGES)
        def poll_as_creator(self, age):
            ticket = self._ticket(age)
            response = ticket.browser.get(f"/api/tickets/{ticket.id}")
            assert response.status_code == 200
            status = response.get_json()["status"]
            ticket.saw(status)
            if cookie_value(response, "qrl_session"):
                assert status == "confirmed"
                ticket.sessions += 1
            assert ticket.sessions <= 1

        @rule(age=AGES, fresh=st.booleans())
        def poll_as_stranger(self, age, fresh):
            ticket = self._ticket(age)
            stranger = app.test_client() if fresh else self.stranger
            response = stranger.get(f"/api/tickets/{ticket.id}")
            assert response.status_code == 403
            assert cookie_value(response, "qrl_session") is None
            assert stranger.get("/api/me").status_code == 401

        @rule(who=USERS, everywhere=st.booleans())
        def phone_logs_out(self, who, everywhere):
            response = phones[who].client.post("/api/mp/logout", headers=phones[who].headers(),
                                               json={"everywhere": everywhere})
            if who in self.revoked:
                assert response.status_code == 401
            else:
                assert response.status_code == 200
                self.revoked.add(who)

        @rule(who=USERS)
        def phone_signs_in_again(self, who):
            phones[who].login()
            self.revoked.discard(who)

        @rule(age=AGES)
        def drop_as_creator(self, age):
            ticket = self._ticket(age)
            response = ticket.browser.post(f"/api/tickets/{ticket.id}/cancel")
            assert response.status_code in (200, 410), response.get_json()
            if response.status_code == 200:
                ticket.saw(response.get_json()["status"])

        @rule(seconds=st.sampled_from([1, 5, 30, 130]))
        def move_clock(self, seconds):
            clock.advance(seconds)

        @invariant()
        def at_most_one_session_per_ticket(self):
            if not self.all:
                return
            with app.app_context():
                counts = db.session.execute(
                    sa.select(LoginSession.ticket_id, sa.func.count())
                    .where(LoginSession.ticket_id.in_([t.id for t in self.all]))
                    .group_by(LoginSession.ticket_id)
                ).all()
            assert all(count == 1 for _, count in counts)

    return LoginFlow


def test_property_13_login_state_machine_keeps_its_invariants(config, clock):
    app = create_app({**config, **NO_LIMITS})
    app.testing = False  # a 5xx must come back as an answer, not as an exception in the test
    phones = [Phone(app.test_client(), "ok-alice").login(), Phone(app.test_client(), "ok-bob").login()]
    machine = build_machine(app, phones, clock)
    run_state_machine_as_test(machine, settings=settings(
        max_examples=50, stateful_step_count=20, derandomize=True, database=None, deadline=None,
        suppress_health_check=list(HealthCheck)))
    print(STATS)
