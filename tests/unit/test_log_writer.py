"""The JSON log writer: every record becomes one line, in order, with its extras; none is lost at stop."""

from __future__ import annotations

import io
import json
import logging
import threading

from gqlsync.observe.logs import BATCH, JsonFormatter, LogBuffer, LogWriter


def _logger(name: str, out: io.StringIO | None = None) -> tuple[logging.Logger, LogWriter, io.StringIO]:
    out = out if out is not None else io.StringIO()
    writer = LogWriter(out, JsonFormatter())
    logger = logging.getLogger(name)
    logger.handlers[:] = [LogBuffer(writer)]
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


def test_lines_are_written_while_the_server_runs_not_only_at_stop() -> None:
    """The writer wakes for each batch: a line logged now is in the stream soon, with the writer still running."""

    class Stream(io.StringIO):
        wrote = threading.Event()

        def flush(self) -> None:
            super().flush()
            self.wrote.set()

    logger, writer, out = _logger("gqlsync.test.writer3", Stream())
    try:
        for round_ in range(3):
            Stream.wrote.clear()
            logger.info("line %s", round_)
            assert Stream.wrote.wait(10)
            assert json.loads(out.getvalue().splitlines()[-1])["msg"] == f"line {round_}"
    finally:
        writer.stop()


def test_info_fields_writes_the_same_line_as_a_record_and_respects_other_handlers() -> None:
    from gqlsync.observe.logs import info_fields

    out = io.StringIO()
    writer = LogWriter(out, JsonFormatter())
    parent = logging.getLogger("gqltest")
    parent.handlers[:] = [LogBuffer(writer)]
    parent.propagate = False
    parent.setLevel(logging.INFO)
    child = logging.getLogger("gqltest.request")
    child.handlers[:] = []
    writer.start()
    fields = {"request_id": "r1", "status": 200, "error_types": [], "resolver_logs": [{"m": 1}]}
    info_fields(child, "request", dict(fields))  # the direct path: no LogRecord
    child.info("request", extra=dict(fields))  # the record path
    seen: list[logging.LogRecord] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    child.addHandler(Spy())  # someone else listens: the line must reach them too, as a record
    info_fields(child, "request", dict(fields))
    parent.setLevel(logging.WARNING)
    info_fields(child, "request", dict(fields))  # disabled: nothing
    writer.stop()
    child.handlers[:] = []
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 3 and len(seen) == 1 and seen[0].__dict__["request_id"] == "r1"
    for line in lines:
        line.pop("ts")
    assert lines[0] == lines[1] == lines[2] == {"level": "info", "logger": "gqltest.request", "msg": "request",
                                                **fields}
