"""examples/gensim_dropin.py prints what its header says, and the same as on gensim."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "gensim_dropin.py"


def _run(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, env=env,
                         check=True, timeout=300)
    return out.stdout


def test_example_output_is_in_its_header_and_matches_gensim() -> None:
    ours = _run()
    header = EXAMPLE.read_text().split('"""')[1]
    for line in ours.splitlines():
        assert "    " + line in header
    pytest.importorskip("gensim")
    assert _run("--gensim") == ours
