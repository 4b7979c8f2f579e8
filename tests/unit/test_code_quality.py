"""The code stays ruff-clean (gqlsync/ and tests/) and mypy-clean (gqlsync/), checked on every run."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_clean() -> None:
    r = run("ruff", "check", "gqlsync", "tests", "bench")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_clean() -> None:
    r = run("mypy", "gqlsync")
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_module_opens_with_a_docstring() -> None:
    import ast

    missing = [str(p.relative_to(ROOT)) for p in (ROOT / "gqlsync").rglob("*.py")
               if ast.get_docstring(ast.parse(p.read_text())) is None]
    assert missing == []
