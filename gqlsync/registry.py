"""Registries of pluggable kinds (data-source types, runtimes, auth modes): each kind is one self-registering module."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownKind(KeyError):  # noqa: N818 - reads as "unknown kind" at call sites
    """A name no module of the package registered; the message lists the names that exist."""

    def __init__(self, what: str, name: str, known: list[str]) -> None:
        super().__init__(f"unknown {what} {name!r}; this gqlsync knows {', '.join(known) or 'none'}")
        self.message = str(self.args[0])

    def __str__(self) -> str:
        return self.message


class Registry(Generic[T]):
    """Name -> implementation, filled by the modules of one package as they are imported.

    Every module of `package` is imported on first lookup, so adding a kind means adding one module
    that calls `@registry.register("NAME")`; nothing else lists the kinds.
    """

    def __init__(self, what: str, package: str) -> None:
        self.what = what
        self.package = package
        self._entries: dict[str, T] = {}
        self._loaded = False

    def register(self, *names: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            for name in names:
                existing = self._entries.get(name)
                if existing is not None and existing is not entry:
                    raise RuntimeError(f"{self.what} {name!r} is registered twice")
                self._entries[name] = entry
            return entry

        return add

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        pkg = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self.package}.{info.name}")

    def get(self, name: str) -> T:
        entry = self._entries.get(name)
        if entry is None:
            self._load()
            entry = self._entries.get(name)
        if entry is None:
            raise UnknownKind(self.what, name, self.names())
        return entry

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)
