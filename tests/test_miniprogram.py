"""The mini-program in miniprogram/ against the real server: its API module, run by Node."""
import os
import subprocess

from bench.live_server import ROOT, LiveServer

from .support.live import require_tool


def test_mini_program_api_module_works_against_the_live_server(live_server, tmp_path):
    node = require_tool("node", "install Node.js to test the mini-program")
    # The development switch is tried against a development server (no WeChat credentials).
    dev = LiveServer(f"sqlite:///{tmp_path / 'dev.sqlite3'}", env={"WECHAT_APPID": "", "WECHAT_SECRET": ""},
                     log_path=tmp_path / "gunicorn.log").migrate().start()
    try:
        result = subprocess.run([node, "--test", "miniprogram/tests/"], cwd=ROOT, capture_output=True, text=True,
                                env={**os.environ, "QRL_BASE_URL": live_server.url, "QRL_DEV_BASE_URL": dev.url},
                                timeout=120)
    finally:
        dev.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout and "# skipped 0" in result.stdout
    assert "is not set" not in result.stdout  # the live tests ran, not skipped


def test_profile_update_also_accepts_post_because_wx_request_cannot_send_patch(app, phone):
    response = phone.client.post("/api/mp/me", json={"nickname": "ByPost"}, headers=phone.headers())
    assert response.status_code == 200
    assert response.get_json()["user"]["nickname"] == "ByPost"
    refused = phone.client.post("/api/mp/me", data={"nickname": "form"}, headers=phone.headers())
    assert refused.status_code == 415  # still JSON only: no cross-site form can change a profile
