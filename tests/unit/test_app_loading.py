"""Broken apps are refused at load with file, line and reason; good ones load completely."""

from __future__ import annotations

from pathlib import Path

import pytest

from gqlsync.app import AppError, load_app
from gqlsync.datasources import ClientProvider
from gqlsync.engine.api import build_api
from gqlsync.server import check_app


def problems(path: Path) -> list[str]:
    with pytest.raises(AppError) as exc:
        check_app(path)
    return [str(p) for p in exc.value.problems]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_event_app_loads(app_dir: Path) -> None:
    api = build_api(load_app(app_dir), ClientProvider())
    assert api.app.name == "event-app"
    assert {r.coordinate for r in api.app.resolvers} >= {"Query.getEvent", "Event.comments"}


def test_yaml_syntax_error_has_line(app_dir: Path) -> None:
    edit(app_dir / "gqlsync.yaml", "dataSources:\n", "dataSources:\n  - [unclosed\n")
    (p,) = problems(app_dir)
    assert "gqlsync.yaml:" in p and "YAML syntax error" in p


def test_schema_violation_names_line(app_dir: Path) -> None:
    edit(app_dir / "gqlsync.yaml", "    type: AMAZON_DYNAMODB\n    config:\n      tableName: events",
         "    type: AMAZON_DYNAMODB_TYPO\n    config:\n      tableName: events")
    (p,) = problems(app_dir)
    lines = (app_dir / "gqlsync.yaml").read_text().splitlines()
    line = next(i for i, t in enumerate(lines, 1) if "AMAZON_DYNAMODB_TYPO" in t)
    assert f"gqlsync.yaml:{line}:" in p and "dataSources.EventsTable.type" in p


def test_unknown_key(app_dir: Path) -> None:
    edit(app_dir / "gqlsync.yaml", "name: event-app", "name: event-app\nnmae: typo")
    (p,) = problems(app_dir)
    assert "gqlsync.yaml:" in p and "nmae" in p


def test_unknown_type_field_datasource_and_missing_file(app_dir: Path) -> None:
    m = app_dir / "gqlsync.yaml"
    edit(m, "field: getEvent\n    dataSource: EventsTable", "field: getEvents\n    dataSource: EventsTable")
    edit(m, "field: listEvents\n    dataSource: EventsTable", "field: listEvents\n    dataSource: Nope")
    edit(m, "request: resolvers/Mutation.deleteEvent.req.vtl", "request: resolvers/missing.vtl")
    ps = problems(app_dir)
    assert any("unknown data source 'Nope'" in p for p in ps)
    assert any("file not found: resolvers/missing.vtl" in p for p in ps)
    assert all("gqlsync.yaml:" in p for p in ps)


def test_unknown_field_detected_after_load(app_dir: Path) -> None:
    edit(app_dir / "gqlsync.yaml", "field: getEvent\n", "field: getEvents\n")
    (p,) = problems(app_dir)
    assert "Query.getEvents" in p and "has no field getEvents" in p
    assert p.startswith(str(app_dir / "gqlsync.yaml") + ":")


def test_duplicate_resolver(app_dir: Path) -> None:
    edit(app_dir / "gqlsync.yaml", "field: listEvents\n", "field: getEvent\n")
    ps = problems(app_dir)
    assert any("duplicate resolver for Query.getEvent" in p for p in ps)


def test_template_syntax_error_names_template_line(app_dir: Path) -> None:
    (app_dir / "resolvers/Query.getEvent.req.vtl").write_text('{\n  "version": "2017-02-28",\n  #if($x\n}\n')
    (p,) = problems(app_dir)
    assert "Query.getEvent.req.vtl:" in p and "VTL syntax error" in p


def test_sdl_error_names_line_and_column(app_dir: Path) -> None:
    edit(app_dir / "schema.graphql", "  description: String\n", "  description: Strin\n")
    (p,) = problems(app_dir)
    assert "schema.graphql:" in p and "Unknown type 'Strin'" in p
    line = next(i for i, t in enumerate((app_dir / "schema.graphql").read_text().splitlines(), 1) if t.endswith(": Strin"))
    assert f"schema.graphql:{line}:16" in p


def test_redeclared_aws_scalar(app_dir: Path) -> None:
    (app_dir / "schema.graphql").write_text((app_dir / "schema.graphql").read_text() + "\nscalar AWSDateTime\n")
    (p,) = problems(app_dir)
    assert "AWSDateTime is predefined" in p


def test_api_key_required_for_api_key_mode(app_dir: Path) -> None:
    text = (app_dir / "gqlsync.yaml").read_text()
    start = text.index("  apiKeys:")
    end = text.index("dataSources:")
    (app_dir / "gqlsync.yaml").write_text(text[:start] + text[end:])
    (p,) = problems(app_dir)
    assert "apiKeys" in p


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(AppError, match=r"no gqlsync\.yaml"):
        load_app(tmp_path)


SEARCH_SOURCE = "dataSources:\n  Search:\n    type: AMAZON_OPENSEARCH_SERVICE\n"


def test_streams_wire_a_table_to_an_index(app_dir: Path) -> None:
    manifest = app_dir / "gqlsync.yaml"
    edit(manifest, "dataSources:\n", SEARCH_SOURCE)
    edit(manifest, "  - name: comments\n    partitionKey: {name: eventId, type: S}\n    sortKey: {name: commentId, "
                   "type: S}\n    stream: NEW_AND_OLD_IMAGES\n",
         "  - name: comments\n    partitionKey: {name: eventId, type: S}\n    sortKey: {name: commentId, type: S}\n")
    manifest.write_text(manifest.read_text() + "streams:\n  - {table: events, searchDataSource: Search}\n"
                        "  - {table: comments, searchDataSource: Search, index: notes, batchSize: 10, "
                        "backfill: false}\n")
    app = load_app(app_dir)
    events, comments = app.streams
    assert (events.index_name, events.key, events.batch_size, events.backfill) == ("events", "events>events", 1000,
                                                                                   True)
    assert (comments.index_name, comments.batch_size, comments.backfill) == ("notes", 10, False)
    # a fed table that named no stream gets new and old images
    assert {t.name: t.stream for t in app.tables}["comments"] == "NEW_AND_OLD_IMAGES"


def test_streams_refuse_what_cannot_feed_an_index(app_dir: Path) -> None:
    manifest = app_dir / "gqlsync.yaml"
    edit(manifest, "    partitionKey: {name: id, type: S}\n    stream: NEW_AND_OLD_IMAGES",
         "    partitionKey: {name: id, type: S}\n    stream: KEYS_ONLY")
    manifest.write_text(manifest.read_text() + "streams:\n  - {table: events, searchDataSource: EventsTable}\n"
                        "  - {table: events, searchDataSource: Nowhere}\n  - {table: events, searchDataSource: Nowhere}\n")
    found = problems(app_dir)
    assert any("EventsTable is AMAZON_DYNAMODB" in p and ":" in p for p in found), found
    assert any("unknown data source 'Nowhere'" in p for p in found), found
    assert any("needs the new images" in p and "KEYS_ONLY" in p for p in found), found
    assert any("already feeds index events" in p for p in found), found
