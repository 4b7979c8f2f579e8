"""examples/deploy/walkthrough.sh runs as the README shows it: a fresh managed server (embedded DynamoDB) to a
canary, a promotion and a rollback, each step answering as it says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.services import free_port

pytestmark = pytest.mark.integration


def test_the_deploy_walkthrough(tmp_path: Path) -> None:
    gqlsync = Path(sys.executable).parent / "gqlsync"
    proc = subprocess.run(["bash", str(ROOT / "examples/deploy/walkthrough.sh")], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, env={**os.environ, "GQLSYNC": str(gqlsync),
                                                       "PORT": str(free_port()), "COLUMNS": "200"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    for step in ("deployed events version 1 — serving", "dry run: the app checks out",
                 "deployed events version 2 — canary at 20% (current stays 1)", "promoted canary 2",
                 '{"data":{"listEvents":{"items":[{"name":"Launch","venue":null}]}}}', "rolled back to 1",
                 '{"data":{"listEvents":{"items":[{"name":"Launch"}]}}}', "+  venue: String"):
        assert step in out, (step, out)
