"""The mini-program in miniprogram/ against the real server: its API module, run by Node."""
import os
import subprocess

from .live_server import ROOT, require_tool


def test_mini_program_api_module_works_against_the_live_server(live_server):
    node = require_tool("node", "install Node.js to test the mini-program")
    result = subprocess.run([node, "--test", "miniprogram/tests/"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "QRL_BASE_URL": live_server.url}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout
    assert "QRL_BASE_URL is not set" not in result.stdout  # the live tests ran, not skipped


def test_a_post_stands_in_for_patch_because_wx_request_cannot_send_patch(app, phone):
    response = phone.client.post("/api/mp/me", json={"nickname": "Override"},
                                 headers={**phone.headers(), "X-HTTP-Method-Override": "PATCH"})
    assert response.status_code == 200
    assert response.get_json()["user"]["nickname"] == "Override"


def test_a_plain_post_to_the_profile_is_still_refused(app, phone):
    response = phone.client.post("/api/mp/me", json={"nickname": "Nope"}, headers=phone.headers())
    assert response.status_code == 405
