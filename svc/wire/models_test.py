"""The committed models are exactly what `make generate` makes from the contract."""

import subprocess
from pathlib import Path

from tools import harness

HERE = Path(__file__).resolve().parent


def test_committed_models_match_the_contract(tmp_path):
    out = tmp_path / "models.py"
    result = subprocess.run(["uv", "run", "--frozen", "datamodel-codegen", "--output", str(out)], cwd=HERE.parent,
                            env=harness.child_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == (HERE / "models.py").read_text(), "models.py is stale: run `make generate`"
