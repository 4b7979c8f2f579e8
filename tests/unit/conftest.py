"""Fixtures the unit tests share."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import EVENT_APP


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A private copy of the Event app to edit."""
    dst = tmp_path / "app"
    shutil.copytree(EVENT_APP, dst, ignore=shutil.ignore_patterns(".gqlsync"))
    return dst
