"""`python -m migrations` from svc/ (SPEC.md's Layout): the runner of db/migrations.py."""

import subprocess
import sys

from tools import harness


def test_python_m_migrations_runs_the_migrations_from_svc(database_url):
    result = subprocess.run([sys.executable, "-m", "migrations"], cwd=harness.SVC, capture_output=True, text=True,
                            timeout=60, env=harness.child_env(DATABASE_URL=database_url))
    assert result.returncode == 0 and result.stdout.strip() == "migrations: 0 applied", result
