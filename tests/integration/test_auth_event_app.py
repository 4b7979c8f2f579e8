"""Issue 5's directive table on the Event app: which mode (and Cognito group) may read/write which field."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gqlsync.app import load_app
from tests.helpers import EVENT_APP, EVENT_KEY, GraphQLClient, dynamodb_server
from tests.integration.test_auth_cognito import Keys, token
from tests.services import JwksServer

pytestmark = pytest.mark.integration

DIRECTIVES = {
    r"type Event \{": "type Event @aws_api_key @aws_cognito_user_pools {",
    r"type Comment \{": "type Comment @aws_api_key @aws_cognito_user_pools {",
    r"type EventConnection \{": "type EventConnection @aws_api_key @aws_cognito_user_pools {",
    r"type CommentConnection \{": "type CommentConnection @aws_api_key @aws_cognito_user_pools {",
    r"getEvent\(id: ID!\): Event": "getEvent(id: ID!): Event @aws_api_key @aws_cognito_user_pools",
    r"listEvents\(limit: Int, nextToken: String\): EventConnection":
        "listEvents(limit: Int, nextToken: String): EventConnection @aws_cognito_user_pools",
    r"\): Event\n  # Delete": "): Event @aws_cognito_user_pools(cognito_groups: [\"organizers\"])\n  # Delete",
    r"deleteEvent\(id: ID!\): Event": "deleteEvent(id: ID!): Event @aws_cognito_user_pools(cognito_groups: [\"admins\"])",
    r"createdAt: String!\): Comment": "createdAt: String!): Comment @aws_api_key @aws_cognito_user_pools",
    r"  description: String\n  # Paginated": "  description: String @aws_cognito_user_pools\n  # Paginated",
}


@pytest.fixture(scope="module")
def jwks() -> Any:
    server = JwksServer()
    keys = Keys("event-key")
    server.jwks = {"keys": [keys.jwk()]}
    yield server, keys
    server.stop()


@pytest.fixture
async def c(tmp_path: Path, dynamodb_endpoint: str, jwks: Any) -> AsyncIterator[GraphQLClient]:
    app_dir = tmp_path / "event-app"
    shutil.copytree(EVENT_APP, app_dir, ignore=shutil.ignore_patterns(".gqlsync"))
    sdl = (app_dir / "schema.graphql").read_text()
    for pattern, replacement in DIRECTIVES.items():
        sdl, n = re.subn(pattern, replacement, sdl)
        assert n == 1, pattern
    (app_dir / "schema.graphql").write_text(sdl)
    manifest = yaml.safe_load((app_dir / "gqlsync.yaml").read_text())
    manifest["auth"]["additional"] = [{"mode": "AMAZON_COGNITO_USER_POOLS", "config": {
        "userPoolId": "us-east-1_TestPool", "issuer": jwks[0].issuer, "appIdClientRegex": "^web-client-1$"}}]
    (app_dir / "gqlsync.yaml").write_text(yaml.safe_dump(manifest))
    async with GraphQLClient(dynamodb_server(load_app(app_dir), dynamodb_endpoint), api_key=None) as client:
        yield client


CREATE = 'mutation { createEvent(name: "n", when: "w", where: "x", description: "d") { id } }'
# caller, operation, allowed
TABLE = [
    ("api key", "{ getEvent(id: \"$ID\") { id name } }", True),
    ("api key", "{ listEvents { items { id } } }", False),  # Cognito only
    ("api key", "{ getEvent(id: \"$ID\") { description } }", False),  # field-level Cognito only
    ("user", "{ getEvent(id: \"$ID\") { description } }", True),
    ("api key", CREATE, False),
    ("api key", 'mutation { commentOnEvent(eventId: "x", content: "c", createdAt: "t") { content } }', True),
    ("user", "{ listEvents { items { id description } } }", True),
    ("user", CREATE, False),  # organizers only
    ("organizer", CREATE, True),
    ("organizer", 'mutation { deleteEvent(id: "x") { id } }', False),  # admins only
    ("admin", 'mutation { deleteEvent(id: "x") { id } }', True),
]


@pytest.mark.parametrize("caller,operation,allowed", TABLE, ids=[f"{t[0]}:{t[1][:40]}" for t in TABLE])
async def test_event_app_directive_table(c: GraphQLClient, jwks: Any, caller: str, operation: str,
                                         allowed: bool) -> None:
    groups = {"user": [], "organizer": ["organizers"], "admin": ["admins"]}
    headers = {"x-api-key": EVENT_KEY} if caller == "api key" else \
        {"authorization": token(jwks, **{"cognito:groups": groups[caller]})}
    if "$ID" in operation:
        organizer = {"authorization": token(jwks, **{"cognito:groups": ["organizers"]})}
        created = (await c.post({"query": CREATE}, headers=organizer)).json()
        operation = operation.replace("$ID", created["data"]["createEvent"]["id"])
    resp = await c.post({"query": operation}, headers=headers)
    assert resp.status_code == 200
    body = resp.json()
    unauthorized = [e for e in body.get("errors", []) if e["errorType"] == "Unauthorized"]
    assert (not unauthorized) is allowed, body
