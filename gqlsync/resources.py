"""Locates the data gqlsync ships (AppSync base SDL, manifest JSON Schema, stock resolvers)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """The folder `schema` or `resolvers`: packaged in a wheel, or at the repo root in a checkout."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"gqlsync data folder {name!r} is missing from the installation")


def read_text(folder: str, filename: str) -> str:
    return (data_dir(folder) / filename).read_text(encoding="utf-8")
