"""gqlsync.testing as a user's project uses it: pytest's pytester runs a tiny project testing its own API."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers import ROOT

pytest_plugins = ["pytester"]

USER_TESTS = '''
CREATE = """mutation($name: String!) {
  createEvent(name: $name, when: "2026-12-01", where: "Berlin", description: "d") { id name } }"""


async def test_create_then_get(gqlsync_client):
    created = await gqlsync_client.query(CREATE, {"name": "Launch"})
    event = created["data"]["createEvent"]
    got = await gqlsync_client.query("query($id: ID!) { getEvent(id: $id) { name } }", {"id": event["id"]})
    assert got == {"data": {"getEvent": {"name": "Launch"}}}


async def test_each_test_starts_empty(gqlsync_client):
    r = await gqlsync_client.query("{ listEvents { items { id } } }")
    assert r == {"data": {"listEvents": {"items": []}}}


async def test_api_key_and_headers(gqlsync_client):
    r = await gqlsync_client.query("{ listEvents { items { id } } }", api_key="da2-wrong")
    assert r["errors"][0]["errorType"] == "UnauthorizedException"
    resp = await gqlsync_client.post({"query": "{ listEvents { nextToken } }"}, api_key=None)
    assert resp.status_code == 401


async def test_factory_serves_another_app(gqlsync_app, tmp_path):
    client = await gqlsync_app("app")
    r = await client.query("{ getEvent(id: \\"nope\\") { id } }")
    assert r == {"data": {"getEvent": None}}


async def test_serve_outside_fixtures(tmp_path):
    from gqlsync.testing import serve

    async with serve("app", tmp_path / "own") as client:
        r = await client.query("mutation { deleteEvent(id: \\"x\\") { id } }")
        assert r == {"data": {"deleteEvent": None}}


async def test_a_failing_expectation(gqlsync_client):
    r = await gqlsync_client.query("{ getEvent(id: \\"1\\") { id } }")
    assert r["data"]["getEvent"] == {"id": "1"}
'''


@pytest.mark.slow
def test_a_project_tests_its_api_with_the_fixtures(pytester: pytest.Pytester) -> None:
    shutil.copytree(ROOT / "tests" / "apps" / "event-app-py", pytester.path / "app")
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\ngqlsync_app = app\n")
    pytester.makepyfile(test_my_api=USER_TESTS)
    from importlib.metadata import entry_points

    # installed, the plugin loads by its entry point as in a user's project; from a tree not reinstalled since the
    # entry point was added, by name
    installed = any(ep.value == "gqlsync.testing" for ep in entry_points(group="pytest11"))
    result = pytester.runpytest_subprocess(*(() if installed else ("-p", "gqlsync.testing")), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["*test_a_failing_expectation*", "*assert None == {'id': '1'}*"])
