"""The README's quick-start command, run as a user would: fresh copy, fresh venv, serve, query, restart."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import EVENT_KEY, ROOT
from tests.services import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def readme_command(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(rf"<!-- {marker} -->\s*```sh\n(.+?)\n```", text, re.S)
    assert m, f"README has no {marker} block"
    return m.group(1).strip()


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the quick-start command exited with {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"gqlsync did not come up within {timeout}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def gql(url: str, query: str) -> dict:
    r = httpx.post(url + "/graphql", json={"query": query}, headers={"x-api-key": EVENT_KEY}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_readme_quickstart_serves_event_app_and_keeps_data(tmp_path: Path) -> None:
    assert readme_command("quickstart-test") == "bash tests/run.sh"
    command = readme_command("quickstart-serve")
    repo = tmp_path / "gqlsync"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".cache", "node_modules", "__pycache__", ".gqlsync", ".pytest_cache", ".mypy_cache",
        ".ruff_cache", "*.egg-info", ".hypothesis"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "AWS_"))}
    env["GQLSYNC_PORT"] = str(port)
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(["bash", "-c", command], cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_healthy(url, proc, 600)
        r = gql(url, 'mutation { createEvent(name: "QS", when: "w", where: "x", description: "d") { id name } }')
        event_id = r["data"]["createEvent"]["id"]
        r = gql(url, f'mutation {{ commentOnEvent(eventId: "{event_id}", content: "hi", createdAt: "t") {{ content }} }}')
        assert r == {"data": {"commentOnEvent": {"content": "hi"}}}
    finally:
        stop(proc)
    # Restart the installed server: the data is still there.
    proc = subprocess.Popen([str(repo / ".venv/bin/gqlsync"), "dev", "examples/event-app"], cwd=repo, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(url, proc, 60)
        r = gql(url, f'{{ getEvent(id: "{event_id}") {{ name comments {{ items {{ content }} }} }} }}')
        assert r == {"data": {"getEvent": {"name": "QS", "comments": {"items": [{"content": "hi"}]}}}}
    finally:
        stop(proc)
    assert "java" not in (tmp_path / "serve.log").read_text(errors="replace").lower()
