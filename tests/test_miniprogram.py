"""The mini-program in miniprogram/ against the real server: its API module, run by Node."""
import os
import subprocess

from bench.live_server import ROOT, LiveServer

from .support.live import require_tool


def run_node_tests(path, server, **env):
    node = require_tool("node", "install Node.js to test the mini-program")
    return subprocess.run([node, "--test", path], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "QRL_BASE_URL": server.url, **env}, timeout=120)


def test_mini_program_api_module_works_against_the_live_server(live_server):
    result = run_node_tests("miniprogram/tests/api.test.js", live_server)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout and "# skipped 0" in result.stdout
    assert "is not set" not in result.stdout  # the live tests ran, not skipped


def test_mini_program_development_switch_works_against_a_development_server(tmp_path):
    # `make run` / `make run-lan`: no WeChat credentials, so `dev:` codes are accepted.
    dev = LiveServer(f"sqlite:///{tmp_path / 'dev.sqlite3'}", env={"WECHAT_APPID": "", "WECHAT_SECRET": ""},
                     log_path=tmp_path / "gunicorn.log").migrate().start()
    try:
        result = run_node_tests("miniprogram/tests/dev.test.js", dev, QRL_DEV_BASE_URL=dev.url)
    finally:
        dev.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 6" in result.stdout and "# fail 0" in result.stdout and "# skipped 0" in result.stdout


def test_profile_update_also_accepts_post_because_wx_request_cannot_send_patch(app, phone):
    response = phone.client.post("/api/mp/me", json={"nickname": "ByPost"}, headers=phone.headers())
    assert response.status_code == 200
    assert response.get_json()["user"]["nickname"] == "ByPost"
    refused = phone.client.post("/api/mp/me", data={"nickname": "form"}, headers=phone.headers())
    assert refused.status_code == 415  # still JSON only: no cross-site form can change a profile


def test_the_confirm_page_asks_for_the_phone_number_when_the_service_requires_it(start_live_server, wechat):
    result = run_node_tests("miniprogram/tests/phone.test.js", start_live_server(REQUIRE_PHONE="1"),
                            QRL_REQUIRE_PHONE="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 3" in result.stdout and "# fail 0" in result.stdout and "# skipped 0" in result.stdout
