"""One JSON object per log line; request logs carry the request id that ties resolver logs to them."""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
import time
from typing import Any

import orjson

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _STANDARD and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(out, default=str).decode()
        except TypeError:
            return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", stream: Any = None) -> logging.handlers.QueueListener | None:
    """Send gqlsync's logs as JSON lines to stderr (idempotent).

    Records go through a queue to a writer thread, so a slow stderr never blocks the event loop.
    """
    logger = logging.getLogger("gqlsync")
    logger.setLevel(level.upper())
    logger.propagate = False
    if any(getattr(h, "_gqlsync", False) for h in logger.handlers):
        return None
    writer = logging.StreamHandler(stream or sys.stderr)
    writer.setFormatter(JsonFormatter())
    q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = logging.handlers.QueueHandler(q)
    handler._gqlsync = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    listener = logging.handlers.QueueListener(q, writer, respect_handler_level=False)
    listener.start()
    atexit.register(listener.stop)
    return listener
