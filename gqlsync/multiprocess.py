"""`gqlsync serve --workers N`: N server processes sharing one listening socket, under uvicorn's supervisor.

uvicorn's Multiprocess supervisor binds the socket, starts the workers (spawned, so each builds its own event loop,
clients and GqlsyncServer from scratch), restarts a worker that dies and stops them all on SIGTERM/SIGINT. A worker
finds what to serve in `SPEC_ENV` (set by the parent before spawning): the app folder, the ServerSettings and the
log level. Subscriptions reach every worker's subscribers through the Redis broker, which is why more than one
worker needs `--redis-url`.
"""

from __future__ import annotations

import base64
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gqlsync.server import ServerSettings

#: The environment variable carrying the workers' `WorkerSpec` (pickled, base64).
SPEC_ENV = "GQLSYNC_WORKER_SPEC"

#: The import string uvicorn's workers load (`factory=True`: it is called to make the ASGI app).
FACTORY = "gqlsync.multiprocess:app"


@dataclass(frozen=True)
class WorkerSpec:
    app_dir: Path
    settings: ServerSettings
    log_level: str


def refusal(settings: ServerSettings, workers: int) -> str | None:
    """Why `workers` processes cannot serve with these settings (None: they can)."""
    if workers < 1:
        return "--workers is at least 1"
    if workers == 1:
        return None
    if not settings.redis_url:
        return (f"--workers {workers} needs --redis-url: without a broker each process would only deliver its own "
                "mutations to the subscribers it holds")
    if settings.embedded_dynamodb_dir is not None:
        return "--workers needs a shared DynamoDB: the embedded one (--data-dir) lives in one process"
    if settings.embedded_search_dir is not None and not settings.search_endpoint:
        return "--workers needs a shared search endpoint (--search-endpoint): the embedded engine lives in one process"
    if settings.watch:
        return "--watch reloads one process; leave --workers out"
    return None


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers' cpusets narrow), else all of them."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_workers(settings: ServerSettings) -> int:
    """One per usable core when a broker can share subscriptions between them, else one."""
    return usable_cores() if settings.redis_url else 1


def export(spec: WorkerSpec) -> None:
    """Put `spec` where the spawned workers find it (they inherit the environment)."""
    os.environ[SPEC_ENV] = base64.b64encode(pickle.dumps(spec)).decode()


def app() -> Any:
    """uvicorn's factory in each worker: the same app `gqlsync serve` builds in one process."""
    from gqlsync.http import create_app
    from gqlsync.observe import configure_logging

    raw = os.environ.get(SPEC_ENV)
    if not raw:
        raise RuntimeError(f"{FACTORY} runs in the workers of `gqlsync serve --workers N` ({SPEC_ENV} is not set)")
    spec = pickle.loads(base64.b64decode(raw))  # written by our own parent process, read by its children
    assert isinstance(spec, WorkerSpec)
    configure_logging(spec.log_level)
    return create_app(spec.app_dir, spec.settings)
