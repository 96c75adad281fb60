"""The mini-program in miniprogram/ against the real server: its API module, run by Node."""
import os
import subprocess

from bench.live_server import ROOT

from .support.live import require_tool


def test_mini_program_api_module_works_against_the_live_server(live_server):
    node = require_tool("node", "install Node.js to test the mini-program")
    result = subprocess.run([node, "--test", "miniprogram/tests/"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "QRL_BASE_URL": live_server.url}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout and "# skipped 0" in result.stdout
    assert "QRL_BASE_URL is not set" not in result.stdout  # the live tests ran, not skipped


def test_profile_update_also_accepts_post_because_wx_request_cannot_send_patch(app, phone):
    response = phone.client.post("/api/mp/me", json={"nickname": "ByPost"}, headers=phone.headers())
    assert response.status_code == 200
    assert response.get_json()["user"]["nickname"] == "ByPost"
    refused = phone.client.post("/api/mp/me", data={"nickname": "form"}, headers=phone.headers())
    assert refused.status_code == 415  # still JSON only: no cross-site form can change a profile
