"""A long template runs off the event loop: other requests are served while it runs (ordering, not timing)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gqlsync.app import load_app
from gqlsync.server import GqlsyncServer, ServerSettings
from tests.helpers import GraphQLClient

KEY = "da2-offlooptestkey0000001"
RUNAWAY = """#set($n = 0)
#foreach($a in [1..1000])#foreach($b in [1..1000])#foreach($c in [1..1000])#set($n = $n + 1)#end#end#end
{"version": "2018-05-29", "payload": $n}"""


def make_app(root: Path) -> Path:
    (root / "schema.graphql").write_text("type Query { slow: Int fast: String }\n")
    (root / "slow.req.vtl").write_text(RUNAWAY)
    (root / "fast.req.vtl").write_text('{"version": "2018-05-29", "payload": "quick"}')
    (root / "result.res.vtl").write_text("$util.toJson($ctx.result)")
    (root / "gqlsync.yaml").write_text(f"""name: offloop
schema: schema.graphql
auth: {{apiKeys: [{{id: {KEY}}}]}}
dataSources: {{Local: {{type: NONE}}}}
resolvers:
  - {{type: Query, field: slow, dataSource: Local, request: slow.req.vtl, response: result.res.vtl}}
  - {{type: Query, field: fast, dataSource: Local, request: fast.req.vtl, response: result.res.vtl}}
""")
    return root


async def test_other_requests_finish_while_a_runaway_template_runs(tmp_path: Path) -> None:
    async with GraphQLClient(GqlsyncServer(load_app(make_app(tmp_path)), ServerSettings()), api_key=KEY) as client:
        slow = asyncio.ensure_future(client.query("{ slow }"))
        await asyncio.sleep(0.05)  # let the runaway template start
        finished_while_slow_ran = []
        for _ in range(5):
            body = await client.query("{ fast }")
            assert body["data"] == {"fast": "quick"}
            finished_while_slow_ran.append(not slow.done())
        assert all(finished_while_slow_ran)  # before the change, the first fast request waited for the budget
        body = await slow
        assert body["data"] == {"slow": None}
        assert body["errors"][0]["errorType"] == "MappingTemplateTimeout"
