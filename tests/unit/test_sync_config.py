"""Delta Sync settings in the manifest: read key by key, refused where they cannot work, delta table planned."""

from __future__ import annotations

import re
from pathlib import Path

from gqlsync.app import load_app
from gqlsync.server import GqlsyncServer, ServerSettings
from tests.unit.test_app_loading import problems


def versioned(app_dir: Path, sync: str = "{conflictDetection: VERSION, conflictHandler: AUTOMERGE}") -> Path:
    manifest = app_dir / "gqlsync.yaml"
    text = manifest.read_text().replace("      tableName: events\n", "      tableName: events\n      versioned: true\n"
                                        "      deltaSyncConfig: {deltaSyncTableName: changes, deltaSyncTableTTL: 15}\n", 1)
    manifest.write_text(text.replace("    field: createEvent\n", f"    field: createEvent\n    syncConfig: {sync}\n", 1))
    return manifest


def test_sync_config_reaches_the_resolver_and_dev_plans_the_delta_table(app_dir: Path) -> None:
    versioned(app_dir)
    app = load_app(app_dir)
    (create,) = [r for r in app.resolvers if r.field_name == "createEvent"]
    assert create.sync is not None and create.sync.conflict_handler == "AUTOMERGE"
    server = GqlsyncServer(app, ServerSettings(create_tables=True))
    changes = {t.name: t for t in server._tables()}["changes"]
    assert (changes.partition_key.name, changes.sort_key and changes.sort_key.name, changes.ttl_attribute) == \
        ("ds_pk", "ds_sk", "_ttl")


def test_what_sync_config_refuses_is_named_at_its_line(app_dir: Path) -> None:
    manifest = versioned(app_dir, "{conflictHandler: LAMBDA, lambdaConflictHandlerConfig: {handler: x.py:f}}")
    (p,) = problems(app_dir)
    line = next(i for i, t in enumerate(manifest.read_text().splitlines(), 1) if "syncConfig" in t)
    assert f"gqlsync.yaml:{line}:" in p and "handler: file not found: x.py" in p
    (app_dir / "x.py").write_text("def f(event, context):\n    return {'action': 'REJECT'}\n")
    assert load_app(app_dir).resolvers  # the handler exists: the app loads
    for sync, reason in (("{conflictHandlr: AUTOMERGE}", "syncConfig.conflictHandlr: unknown key"),
                         ("{conflictHandler: LAMBDA}", "LAMBDA needs lambdaConflictHandlerConfig.handler"),
                         ("{lambdaConflictHandlerArn: 'arn:aws:lambda:x'}", "remote conflict handlers are not")):
        manifest.write_text(re.sub(r"syncConfig: .*", f"syncConfig: {sync}", manifest.read_text()))
        (p,) = problems(app_dir)
        assert reason in p, p
