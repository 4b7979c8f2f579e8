"""One JSON object per log line; request logs carry the request id that ties resolver logs to them.

The event loop only makes the record and puts it on a queue (no formatting, no copy, no caller lookup); a writer
thread renders records as JSON and writes whatever has queued up meanwhile in one write and one flush. Under load
that is one system call for many lines, and the loop's share of a log line is a few microseconds.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
import threading
import time
from typing import Any

import orjson

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
#: lines rendered and written together at most (a burst is written in chunks of this many)
BATCH = 256


class JsonFormatter(logging.Formatter):
    _second = -1
    _stamp = ""

    def _ts(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # one strftime per second, not per line
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._stamp}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self._ts(record),
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


class _Enqueue(logging.handlers.QueueHandler):
    """Hands the record itself to the writer thread: rendering it (message included) happens there."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


class LogWriter:
    """The thread that renders queued records and writes them to `stream` in batches."""

    def __init__(self, records: queue.SimpleQueue[logging.LogRecord | None], stream: Any,
                 formatter: logging.Formatter) -> None:
        self._records = records
        self._stream = stream
        self._formatter = formatter
        self._thread = threading.Thread(target=self._run, name="gqlsync-log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, then end (registered at exit)."""
        if self._thread.is_alive():
            self._records.put(None)
            self._thread.join()

    def _run(self) -> None:
        records, fmt = self._records, self._formatter
        while True:
            batch = [records.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(records.get_nowait())
                except queue.Empty:
                    break
            lines = []
            for r in batch:
                if r is None:
                    continue
                try:
                    lines.append(fmt.format(r))
                except Exception:  # a record that cannot be rendered is reported, never the end of logging
                    lines.append(json.dumps({"level": "error", "logger": "gqlsync.logs",
                                             "msg": f"a log record could not be formatted: {r.msg!r}"}))
            if lines:
                try:
                    self._stream.write("\n".join(lines) + "\n")
                    self._stream.flush()
                except (OSError, ValueError):
                    pass  # stderr closed or full: logging must not take the server down
            if None in batch:
                return


def configure_logging(level: str = "INFO", stream: Any = None) -> LogWriter | None:
    """Send gqlsync's logs as JSON lines to stderr (idempotent).

    Records go through a queue to a writer thread, so a slow stderr never blocks the event loop. The process is
    gqlsync's (`gqlsync serve/dev/...`): records skip the caller lookup and thread/process names, which no line
    carries.
    """
    logger = logging.getLogger("gqlsync")
    logger.setLevel(level.upper())
    logger.propagate = False
    if any(getattr(h, "_gqlsync", False) for h in logger.handlers):
        return None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # the logging HOWTO's "Optimization" switch
    records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
    handler = _Enqueue(records)
    handler._gqlsync = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    writer = LogWriter(records, stream or sys.stderr, JsonFormatter())
    writer.start()
    atexit.register(writer.stop)
    return writer
