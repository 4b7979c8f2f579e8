"""`gqlsync dev --watch`: a change to a file in the app's folder reloads the app through the server's hot swap."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from watchfiles import Change, DefaultFilter, awatch

from gqlsync.app import App, AppError, load_app

if TYPE_CHECKING:
    from gqlsync.apis import ServedApi
    from gqlsync.server import GqlsyncServer

log = logging.getLogger("gqlsync.watch")


class AppFilter(DefaultFilter):
    """The files whose change is an edit of the app: none of its state (`.gqlsync/`, data folders given
    elsewhere), bytecode, VCS folders, or editors' swap, backup and temporary files. Names are matched below the
    app folder only, so an app kept under, say, `node_modules/` is still watched."""

    ignore_dirs = (*DefaultFilter.ignore_dirs, ".gqlsync", ".ruff_cache")
    ignore_entity_patterns = (
        *DefaultFilter.ignore_entity_patterns,
        r"^#.*#$",              # Emacs auto-save
        r"^4913$",              # Vim's probe that it may write the folder
        r"\.(tmp|bak|orig|swpx|kate-swp|crswap)$",
        r"^\.goutputstream-",   # GNOME's atomic save
    )

    def __init__(self, root: Path, ignore_paths: Iterable[Path] = ()) -> None:
        super().__init__()
        self.root = root.resolve()
        self.ignored = tuple(p.resolve() for p in ignore_paths)

    def __call__(self, change: Change, path: str) -> bool:
        p = Path(path)
        if not p.is_relative_to(self.root) or any(p.is_relative_to(i) for i in self.ignored):
            return False
        return super().__call__(change, str(p.relative_to(self.root)))


def _edited(changes: set[tuple[Change, str]]) -> list[Path]:
    """The files a burst of changes edited, without those it created and removed again (an editor's or sed's
    temporary copy, renamed over the file it saves)."""
    added = {path for change, path in changes if change == Change.added}
    return sorted(Path(path) for path in {path for _, path in changes}
                  if path not in added or Path(path).exists())


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class AppWatcher:
    """Watches the folder of the app `server` serves; each burst of changes (an editor's save can be several
    events, coalesced over `step_ms` of quiet, at most `debounce_ms`) loads the app again and installs it.

    A version that loads and builds replaces the served one atomically (requests and subscriptions keep the
    version they started on); one that does not is reported, file, line and reason, and the last good version
    keeps serving. One line per reload goes to `say` (stderr by default).
    """

    def __init__(self, server: GqlsyncServer, *, say: Callable[[str], None] = _say, debounce_ms: int = 1000,
                 step_ms: int = 100) -> None:
        self.server = server
        self.root = server.app.root.resolve()
        s = server.settings
        state = [d for d in (s.embedded_dynamodb_dir, s.embedded_search_dir, s.streams_dir) if d is not None]
        self.filter = AppFilter(self.root, state)
        self.say = say
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.reloads = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Watch from now on: the folder is being watched when this returns."""
        if self._task is not None:
            return
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="gqlsync-watch")
        # The task's first step sets up the OS watches (synchronously, before its first await), so a change
        # made once start() has returned is seen.
        await asyncio.sleep(0)
        self.say(f"  watching {self.root} for changes")

    async def stop(self) -> None:
        """Stop watching, letting a reload under way finish (a half-installed version is never left behind)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), 10)
        except TimeoutError:
            task.cancel()

    async def _run(self) -> None:
        try:
            async for changes in awatch(self.root, watch_filter=self.filter, debounce=self.debounce_ms,
                                        step=self.step_ms, stop_event=self._stop):
                edited = _edited(changes)
                if edited:
                    await self.reload(edited)
        except Exception as exc:  # the watching itself failed (e.g. the OS's limit on watches): say so, serve on
            log.exception("watching the app folder failed")
            self.say(f"watching {self.root} stopped: {exc}")

    async def reload(self, changed: list[Path]) -> ServedApi | None:
        """Load the app as it is on disk and serve it; returns the version installed, None if it was refused."""
        served = self.server.served
        app: App | None = None
        try:
            app = await asyncio.to_thread(load_app, self.server.app.manifest)
            new = await self.server.install(app)
        except AppError as exc:
            self.say(f"reload failed: {len(exc.problems)} problem(s); still serving version {served.version}")
            for p in exc.problems:
                self.say(f"  {p}")
            if app is not None and app.name != self.server.api_id:
                self.say("  (a server keeps the API name it started with: restart it to serve the new name)")
            return None
        except Exception as exc:
            log.exception("reloading the app failed")
            self.say(f"reload failed: {type(exc).__name__}: {exc}; still serving version {served.version}")
            return None
        self.reloads += 1
        names = [str(p.relative_to(self.root)) for p in changed]
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        self.say(f"reloaded: version {new.version} ({len(names)} file{'s' if len(names) != 1 else ''} changed: "
                 f"{shown})")
        added = _added_tables(served, new)
        if added and self.server.settings.create_tables:
            self.say(f"  created tables: {', '.join(added)}")  # install() made them before the swap
        return new


def _added_tables(previous: ServedApi, new: ServedApi) -> list[str]:
    """Tables the new version names that the previous one did not (`gqlsync dev` creates them)."""
    def names(served: ServedApi) -> list[str]:
        return [*(t.name for t in served.api.app.tables),
                *(t.name for ds in served.api.data_sources.values() for t in ds.tables)]

    known = set(names(previous))
    return sorted({n for n in names(new) if n not in known})
