"""Migration 0003 (accounts) keeps every existing user, their PC sessions and mini-program tokens."""
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from app import auth
from app.extensions import db
from app.models import Identity, User
from app.security import hash_secret

from .support.phone import Phone


def _fill_a_0002_database(app) -> None:
    now = datetime.utcnow().replace(microsecond=0)
    later = now + timedelta(days=7)
    with app.app_context():
        downgrade(revision="0002")
        with db.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO users (id, openid, unionid, nickname, avatar_url, token_version, created_at) VALUES "
                "(1, 'o-alice', 'u-alice', 'Alice', '', 1, :now), "
                "(2, 'dev:Bob', NULL, 'Bob', '', 3, :now), "
                "(3, 'o-alice-old-app', 'u-alice', 'Alice (old app)', '', 1, :now)"), {"now": now})
            conn.execute(sa.text(
                "INSERT INTO login_sessions (id, token_hash, user_id, ticket_id, created_at, last_seen_at, "
                "expires_at, ip, user_agent) VALUES (1, :hash, 1, NULL, :now, :now, :later, '10.0.0.1', 'Firefox')"),
                {"hash": hash_secret("alice-session-token"), "now": now, "later": later})
            if conn.dialect.name == "postgresql":  # rows inserted with explicit ids
                conn.execute(sa.text("SELECT setval('users_id_seq', 3)"))
                conn.execute(sa.text("SELECT setval('login_sessions_id_seq', 1)"))
        db.engine.dispose()


def test_upgrading_keeps_users_sessions_and_tokens(app):
    _fill_a_0002_database(app)
    with app.test_request_context():
        # a token the mini-program got before the upgrade
        alice_token = auth._serializer().dumps({"u": 1, "v": 1})
    with app.app_context():
        upgrade()
        people = {u.id: u for u in db.session.scalars(sa.select(User))}
        identities = {(i.user_id, i.provider, i.appid, i.openid, i.unionid)
                      for i in db.session.scalars(sa.select(Identity))}
    assert sorted(people) == [1, 2, 3]
    assert len({u.public_id for u in people.values()}) == 3
    assert all(u.public_id.startswith("u_") and len(u.public_id) == 22 for u in people.values())
    assert (people[1].nickname, people[2].token_version) == ("Alice", 3)
    # one person keeps one unionid: the older row holds it, both identities remember it
    assert (people[1].unionid, people[3].unionid) == ("u-alice", None)
    assert identities == {(1, "wechat_mp", "", "o-alice", "u-alice"), (2, "dev", "", "dev:Bob", None),
                          (3, "wechat_mp", "", "o-alice-old-app", "u-alice")}

    browser = app.test_client()
    browser.set_cookie("qrl_session", "alice-session-token")
    me = browser.get("/api/me")
    assert me.status_code == 200 and me.get_json()["user"]["id"] == people[1].public_id
    assert me.get_json()["session"]["ip"] == "10.0.0.1"
    mp_me = app.test_client().get("/api/mp/me", headers={"Authorization": f"Bearer {alice_token}"})
    assert mp_me.status_code == 200 and mp_me.get_json()["user"]["id"] == people[1].public_id

    # the next sign-in through the mini-program is the same person, and records the app id
    assert Phone(app.test_client(), "ok-alice").login().user["id"] == people[1].public_id
    with app.app_context():
        assert db.session.scalar(sa.select(Identity.appid).where(Identity.openid == "o-alice")) \
            == app.config["WECHAT_APPID"]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 3


def test_downgrading_gives_each_user_their_openid_back(app):
    Phone(app.test_client(), "ok-carol").login()
    with app.app_context():
        downgrade(revision="0002")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT openid, unionid FROM users")).all() == [("o-carol", "u-carol")]
        upgrade()
        db.engine.dispose()
