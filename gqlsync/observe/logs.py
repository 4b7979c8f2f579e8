"""One JSON object per log line; request logs carry the request id that ties resolver logs to them.

The event loop only makes the record and appends it to a buffer (no formatting, no copy, no caller lookup, no lock,
no thread woken per record); a writer thread, woken once per batch, renders the records as JSON and writes them in
one write and one flush. Waking a thread per line had cost more than the line itself: the request log took a fifth
of getEvent's throughput (bench/observability.py), mostly in the handoffs of the GIL between the loop and writer.
"""

from __future__ import annotations

import atexit
import json
import logging
import sys
import threading
import time
from collections import deque
from typing import Any, NamedTuple

import orjson

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
#: lines rendered and written together at most (a burst is written in chunks of this many)
BATCH = 256
#: how long the writer lets records gather after the first of a batch arrives (how late a line may be written)
BATCH_SECONDS = 0.05


class JsonFormatter(logging.Formatter):
    _second = -1
    _stamp = ""

    def ts(self, created: float) -> str:
        second = int(created)
        if second != self._second:  # one strftime per second, not per line
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._stamp}.{int((created - second) * 1000):03d}Z"

    def format_line(self, line: Line) -> str:
        out: dict[str, Any] = {"ts": self.ts(line.created), "level": "info", "logger": line.logger, "msg": line.msg,
                               **line.fields}
        return _dumps(out)

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.ts(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _STANDARD and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return _dumps(out)


def _dumps(out: dict[str, Any]) -> str:
    """One line's JSON: orjson, or the json module for what orjson refuses (keys that are not strings, say)."""
    try:
        return orjson.dumps(out, default=str).decode()
    except TypeError:
        return json.dumps(out, default=str, ensure_ascii=False)


class Line(NamedTuple):
    """An INFO line given as its fields (`info_fields`): rendered like a record with those extras."""

    created: float
    logger: str
    msg: str
    fields: dict[str, Any]


def info_fields(logger: logging.Logger, msg: str, fields: dict[str, Any]) -> None:
    """`logger.info(msg, extra=fields)`, without making a LogRecord when the line would only reach gqlsync's own
    writer (the logger and its parents up to `gqlsync` have no other handler or filter): the request log's path."""
    if not logger.isEnabledFor(logging.INFO):
        return
    parent = logger.parent
    if not logger.handlers and not logger.filters and logger.propagate and parent is not None and \
            len(parent.handlers) == 1 and isinstance(handler := parent.handlers[0], LogBuffer) and \
            not parent.filters and not handler.filters and handler.level <= logging.INFO:
        handler.writer.add(Line(time.time(), logger.name, msg, fields))
        return
    logger.info(msg, extra=fields)


class LogBuffer(logging.Handler):
    """What the loop's records go into: a deque (no lock, no thread woken per record; the writer is woken once per
    batch, when the buffer stops being empty)."""

    def __init__(self, writer: LogWriter) -> None:
        super().__init__()
        self.writer = writer

    def handle(self, record: logging.LogRecord) -> bool:  # no handler lock: deque.append is atomic
        self.writer.add(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.writer.add(record)


class LogWriter:
    """The thread that renders buffered records and writes them to `stream`: it wakes when records arrive, lets
    more gather for BATCH_SECONDS, then renders and writes them all (one write, one flush)."""

    def __init__(self, stream: Any, formatter: JsonFormatter) -> None:
        self._records: deque[logging.LogRecord | Line] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._stream = stream
        self._formatter = formatter
        self._thread = threading.Thread(target=self._run, name="gqlsync-log-writer", daemon=True)

    def add(self, record: logging.LogRecord | Line) -> None:
        self._records.append(record)
        if not self._wake.is_set():
            self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Write what is buffered, then end (registered at exit)."""
        if self._thread.is_alive():
            self._stopping = True
            self._wake.set()
            self._thread.join()

    def _run(self) -> None:
        records = self._records
        while True:
            self._wake.wait()
            if not self._stopping:
                time.sleep(BATCH_SECONDS)  # a burst's records are written together
            self._wake.clear()
            while records:
                batch: list[logging.LogRecord | Line] = []
                while records and len(batch) < BATCH:
                    batch.append(records.popleft())
                self._write(batch)
            if self._stopping:
                return

    def _write(self, batch: list[logging.LogRecord | Line]) -> None:
        lines = []
        fmt = self._formatter
        for r in batch:
            try:
                lines.append(fmt.format_line(r) if isinstance(r, Line) else fmt.format(r))
            except Exception:  # a record that cannot be rendered is reported, never the end of logging
                lines.append(json.dumps({"level": "error", "logger": "gqlsync.logs",
                                         "msg": f"a log record could not be formatted: {r.msg!r}"}))
        try:
            self._stream.write("\n".join(lines) + "\n")
            self._stream.flush()
        except (OSError, ValueError):
            pass  # stderr closed or full: logging must not take the server down


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
    writer = LogWriter(stream or sys.stderr, JsonFormatter())
    handler = LogBuffer(writer)
    handler._gqlsync = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    writer.start()
    atexit.register(writer.stop)
    return writer
