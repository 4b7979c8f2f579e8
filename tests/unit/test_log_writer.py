"""The JSON log writer: every record becomes one line, in order, with its extras; none is lost at stop."""

from __future__ import annotations

import io
import json
import logging
import queue

from gqlsync.observe.logs import BATCH, JsonFormatter, LogWriter, _Enqueue


def _logger(name: str) -> tuple[logging.Logger, LogWriter, io.StringIO]:
    records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
    out = io.StringIO()
    writer = LogWriter(records, out, JsonFormatter())
    logger = logging.getLogger(name)
    logger.handlers[:] = [_Enqueue(records)]  # type: ignore[arg-type]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    writer.start()
    return logger, writer, out


def test_every_record_is_one_line_in_order_with_its_fields() -> None:
    logger, writer, out = _logger("gqlsync.test.writer")
    n = BATCH * 3 + 7  # more than one batch
    for i in range(n):
        logger.info("request %s", i, extra={"request_id": f"r{i}", "status": 200, "error_types": []})
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed", extra={"request_id": "x"})
    writer.stop()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == n + 1
    assert [line["msg"] for line in lines[:n]] == [f"request {i}" for i in range(n)]
    assert lines[5]["request_id"] == "r5" and lines[5]["status"] == 200 and lines[5]["error_types"] == []
    assert lines[5]["level"] == "info" and lines[5]["logger"] == "gqlsync.test.writer"
    assert lines[5]["ts"].endswith("Z") and "T" in lines[5]["ts"]
    assert lines[-1]["level"] == "error" and "ValueError: boom" in lines[-1]["exc"]


def test_a_record_that_cannot_render_is_reported_and_the_rest_still_written() -> None:
    logger, writer, out = _logger("gqlsync.test.writer2")
    logger.info("bad %d", "not a number")
    logger.info("good")
    writer.stop()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 2
    assert "could not be formatted" in lines[0]["msg"]
    assert lines[1]["msg"] == "good"
