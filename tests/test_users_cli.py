"""`flask users`: list, show, allow, disallow, block, unblock, groups and CSV import, for scripts and people."""
import json

import pytest
import sqlalchemy as sa

from app import users
from app.extensions import db
from app.models import AccessEntry, User

from .support.assertions import log_in
from .support.phone import Phone


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def invoke(*args):
        return runner.invoke(args=["users", *args])

    return invoke


def entries(app) -> set:
    with app.app_context():
        return {(e.kind, e.value, e.group) for e in db.session.scalars(sa.select(AccessEntry))}


def assert_one_line_failure(result, *words):
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception,
                                                                                           SystemExit)
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("command", [[], ["list"], ["show"], ["allow"], ["disallow"], ["block"], ["unblock"],
                                     ["group"], ["group", "add"], ["group", "remove"], ["import"]])
def test_every_command_explains_itself(run, command):
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Usage: " in result.output


def test_allow_by_phone_with_a_group_before_the_person_ever_logged_in(app, run):
    result = run("allow", "--phone", "+86 138-0000-0000", "--group", "ops", "--group", "Admins", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"phone": "+8613800000000", "allowed": True, "groups": ["ops", "admins"],
                                         "added": True}
    assert entries(app) == {("phone", "+8613800000000", ""), ("phone", "+8613800000000", "ops"),
                            ("phone", "+8613800000000", "admins")}
    assert "already" in run("allow", "--phone", "+8613800000000").output


@pytest.mark.parametrize(
    "args, words",
    [
        (["allow", "--phone", "13800000000x"], ["not a phone number", "+8613800000000"]),
        (["allow", "--phone", "+8613800000000", "--unionid", "u-1"], ["exactly one of"]),
        (["allow"], ["exactly one of"]),
        (["allow", "--id", "u_nobody"], ["No user with id u_nobody"]),
        (["allow", "--unionid", "u-1", "--group", "bad group!"], ["not a group name"]),
        (["allow", "--colour", "red"], ["No such option"]),
        (["block", "--phone", "+8613900000000"], ["No user with phone"]),
        (["unblock", "--id", "u_nobody"], ["No user"]),
        (["show", "--unionid", "nobody"], ["No user with unionid nobody"]),
        (["disallow", "--unionid", "u-nobody"], ["not on the allowlist"]),
        (["group", "add", "ops", "--phone", "+1"], ["not a phone number"]),
        (["group", "remove", "ops", "--unionid", "u-1"], ["not in group ops"]),
        (["group", "rename"], ["No such command"]),
        (["frobnicate"], ["No such command"]),
    ],
)
def test_bad_input_is_one_clear_line_and_a_failing_exit(app, run, args, words):
    assert_one_line_failure(run(*args), *words)
    assert entries(app) == set()


def test_list_and_show_speak_json_for_scripts(app, run, phone, browser, wechat):
    phone.share_phone("phone-13800000000")
    log_in(browser, phone)
    run("group", "add", "ops", "--id", phone.user["id"])
    listed = json.loads(run("list", "--json").output)
    assert [(u["id"], u["phone"], u["groups"], u["allowed"]) for u in listed] == [
        (phone.user["id"], "+8613800000000", ["ops"], True)]
    assert phone.user["id"] in run("list").output
    shown = json.loads(run("show", "--phone", "+8613800000000").output)
    assert shown["id"] == phone.user["id"] and shown["unionid"] == "u-alice"
    assert shown["identities"] == [{"provider": "wechat_mp", "appid": "wx-test-appid", "openid": "o-alice",
                                    "unionid": "u-alice"}]
    assert shown["live_sessions"] == 1 and shown["phone_verified_at"]
    assert json.loads(run("list", "--group", "admins", "--json").output) == []


def test_block_ends_everything_and_unblock_lets_them_back(app, run, phone, browser):
    log_in(browser, phone)
    result = run("block", "--unionid", "u-alice", "--json")
    assert result.exit_code == 0 and json.loads(result.output) == {"id": phone.user["id"], "blocked": True,
                                                                   "sessions_ended": 1}
    assert browser.get("/api/me").status_code == 401
    assert phone.me().status_code == 401
    assert json.loads(run("list", "--blocked", "--json").output)[0]["allowed"] is False
    assert "Unblocked" in run("unblock", "--id", phone.user["id"]).output
    again = Phone(app.test_client(), "ok-alice").login()
    assert log_in(app.test_client(), again).get_json()["status"] == "confirmed"


def test_group_add_and_remove(app, run, phone):
    assert run("group", "add", "ops", "--unionid", "u-alice").exit_code == 0
    assert "already" in run("group", "add", "ops", "--unionid", "u-alice").output
    with app.app_context():
        alice = db.session.scalar(sa.select(User).where(User.public_id == phone.user["id"]))
        assert users.groups_of(alice) == ["ops"]
    assert run("group", "remove", "ops", "--unionid", "u-alice").exit_code == 0
    assert entries(app) == set()


def test_disallow_removes_every_entry_naming_someone(app, run):
    run("allow", "--unionid", "u-1", "--group", "ops")
    result = run("disallow", "--unionid", "u-1")
    assert result.exit_code == 0 and "Removed 2" in result.output
    assert entries(app) == set()


def test_import_an_allowlist_from_csv(app, run, phone, tmp_path):
    sheet = tmp_path / "people.csv"
    sheet.write_text("\ufeffPhone,unionid,id,groups\n+8613800000000,,,ops;admins\n,u-zoe,,\n"
                     f",,{phone.user['id']},\n\n", encoding="utf-8")
    result = run("import", str(sheet), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"rows": 3, "added": 3}
    assert entries(app) == {("phone", "+8613800000000", ""), ("phone", "+8613800000000", "ops"),
                            ("phone", "+8613800000000", "admins"), ("unionid", "u-zoe", ""),
                            ("user", phone.user["id"], "")}
    assert json.loads(run("import", str(sheet), "--json").output) == {"rows": 3, "added": 0}


@pytest.mark.parametrize(
    "text, words",
    [
        ("phone,groups\n+8613800000000,ops\n12345,\n", ["line 3", "not a phone number", "Nothing was imported"]),
        ("phone,unionid\n+8613800000000,u-1\n", ["line 2", "exactly one of"]),
        ("name,email\nAda,ada@example.com\n", ["header row"]),
        ("id\nu_nobody\n", ["line 2", "No user with id u_nobody"]),
    ],
)
def test_a_bad_csv_row_imports_nothing(app, run, tmp_path, text, words):
    sheet = tmp_path / "people.csv"
    sheet.write_text(text, encoding="utf-8")
    assert_one_line_failure(run("import", str(sheet)), *words)
    assert entries(app) == set()


def test_import_of_a_missing_file_is_one_line(run, tmp_path):
    assert_one_line_failure(run("import", str(tmp_path / "nope.csv")), "nope.csv")
