"""`make test` says when it skipped the PostgreSQL half, and how to run it."""
import os
import subprocess
import sys

from bench.live_server import ROOT


def test_the_suite_ends_by_naming_the_skipped_postgresql_tests_and_the_variable():
    environment = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL", "CI")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/test_pages.py", "-k", "favicon"], cwd=ROOT, env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("1 PostgreSQL tests skipped: set TEST_DATABASE_URL=postgresql+psycopg://"), lines
    assert "1 passed, 1 skipped" in lines[-2]
