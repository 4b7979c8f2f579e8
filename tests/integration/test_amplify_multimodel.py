"""A multi-model Amplify project as a migrating user brings it: tests/amplify/blog/schema.graphql (@hasMany/@belongsTo,
an @index queryField, a sort-key primary key, owner + group + public API-key rules, a @function query) run through
Amplify's transformer with user pools as the default mode, API keys as an additional one and conflict detection on;
`gqlsync import-cfn` takes its root and nested stacks as they are (given the pool id and a local handler for the
Lambda function, both known only once deployed), and the app it writes is served unchanged on DynamoDB Local."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from gqlsync.app import load_app
from tests.helpers import ROOT, GraphQLClient, amplify_transform, dynamodb_server, run_gqlsync, with_cognito_issuer
from tests.services import CognitoPool

pytestmark = pytest.mark.integration
KEY = "da2-amplifyblogtestkey000001"
AUTOMERGE = {"project": {"ConflictDetection": "VERSION", "ConflictHandler": "AUTOMERGE"}}
USER_POOLS_AND_API_KEY = {"defaultAuthentication": {"authenticationType": "AMAZON_COGNITO_USER_POOLS"},
                          "additionalAuthenticationProviders": [{"authenticationType": "API_KEY",
                                                                 "apiKeyConfig": {"apiKeyExpirationDays": 30}}]}
POST = "id title status blogID owner _version"
BLOG = ROOT / "tests/amplify/blog"
WORD_COUNT = f"wordCount={BLOG / 'word_count.py'}:handler"  # the function @function(name: "wordCount-${env}") calls


@pytest.fixture(scope="module")
def blog_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("blog")
    templates = amplify_transform(BLOG / "schema.graphql", work / "out", AUTOMERGE, USER_POOLS_AND_API_KEY)
    assert len(templates) == 6  # the root, a stack per model, the connection stack and the function stack
    status, text = run_gqlsync("import-cfn", *templates, "--assets", work / "out", "--out", work / "app",
                               "--api-key", KEY, "--parameter", f"AuthCognitoUserPoolId={CognitoPool.pool_id}",
                               "--lambda", WORD_COUNT)
    assert status == 0, text
    assert "note" not in text  # nothing was left out or filled in
    return work / "app"


def test_the_user_pool_id_known_only_once_deployed_is_asked_for(blog_app: Path) -> None:
    templates = sorted((blog_app.parent / "out/cdk.out").glob("*.template.json"))
    status, text = run_gqlsync("import-cfn", *templates, "--assets", blog_app.parent / "out",
                               "--out", blog_app.parent / "again", "--lambda", WORD_COUNT)
    assert status == 2, text
    assert ('(AWS::AppSync::GraphQLApi) default mode AMAZON_COGNITO_USER_POOLS: UserPoolConfig.UserPoolId '
            '{"Ref": "AuthCognitoUserPoolId"} resolves to \'AuthCognitoUserPoolId\', a value known only once the '
            'stack is deployed; give it with `--parameter AuthCognitoUserPoolId=us-east-1_AbCdEf123`') in text
    assert "The app cannot be served: 1 problem(s)" in text  # everything else the templates define resolved


class Caller:
    """Sends GraphQL as one caller: a user of the pool (id token) or the API key."""

    def __init__(self, c: GraphQLClient, headers: dict[str, str]) -> None:
        self.c = c
        self.headers = headers

    async def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        resp = await self.c.post({"query": query, "variables": variables}, headers=self.headers)
        body: dict[str, Any] = resp.json()
        return body

    async def ok(self, query: str, **variables: Any) -> dict[str, Any]:
        r = await self(query, **variables)
        assert "errors" not in r, json.dumps(r, indent=1)
        data: dict[str, Any] = r["data"]
        return data


@pytest.fixture
async def c(blog_app: Path, dynamodb_endpoint: str, cognito_pool: CognitoPool) -> AsyncIterator[GraphQLClient]:
    app = with_cognito_issuer(load_app(blog_app), cognito_pool.issuer)
    async with GraphQLClient(dynamodb_server(app, dynamodb_endpoint), api_key=None) as client:
        yield client


def user(c: GraphQLClient, pool: CognitoPool, name: str, *groups: str) -> Caller:
    return Caller(c, {"authorization": pool.id_token(name, groups=groups)})


async def make_blog(ann: Caller) -> tuple[dict[str, Any], dict[str, Any]]:
    """A blog with a published and a draft post, and two comments on the first."""
    blog = (await ann.ok("mutation($in: CreateBlogInput!) { createBlog(input: $in) { id name owner } }",
                         **{"in": {"name": "ann's"}}))["createBlog"]
    posts = []
    for title, status in (("Hello", "PUBLISHED"), ("Later", "DRAFT")):
        posts.append((await ann.ok(f"mutation($in: CreatePostInput!) {{ createPost(input: $in) {{ {POST} }} }}",
                                   **{"in": {"title": title, "status": status, "blogID": blog["id"]}}))["createPost"])
    for i, text in enumerate(("first!", "second")):
        await ann.ok("mutation($in: CreateCommentInput!) { createComment(input: $in) { postID postedAt } }",
                     **{"in": {"postID": posts[0]["id"], "postedAt": f"2024-05-0{i + 1}T10:00:00.000Z", "text": text}})
    return blog, posts[0]


def test_the_import_carries_the_user_pool_the_api_key_and_the_indexes(blog_app: Path) -> None:
    m = yaml.safe_load((blog_app / "gqlsync.yaml").read_text())
    assert m["auth"]["default"] == {"mode": "AMAZON_COGNITO_USER_POOLS", "config": {
        "userPoolId": CognitoPool.pool_id, "awsRegion": "us-east-1", "defaultAction": "ALLOW"}}
    assert m["auth"]["additional"] == [{"mode": "API_KEY"}]
    (key,) = m["auth"]["apiKeys"]
    expires = datetime.fromisoformat(key.pop("expires")) - datetime.now(UTC)
    assert key == {"id": KEY} and timedelta(days=29) < expires <= timedelta(days=30)  # the key's Expires
    handlers = {f["syncConfig"]["conflictHandler"] for f in m["functions"].values() if "syncConfig" in f}
    assert handlers == {"AUTOMERGE"}  # each model's versioned functions keep their SyncConfig
    tables = {t["name"]: t for t in m["tables"]}
    assert {ix["name"] for ix in tables["Post-local-NONE"]["globalSecondaryIndexes"]} == {"byStatus", "byBlog"}
    assert tables["Comment-local-NONE"]["sortKey"] == {"name": "postedAt", "type": "S"}
    # the connection stack's resolvers reach the model stacks' data sources through their outputs
    coords = {f"{r['type']}.{r['field']}" for r in m["resolvers"]}
    assert {"Blog.posts", "Post.blog", "Post.comments", "Comment.post", "Query.postsByStatus",
            "Query.syncPosts"} <= coords


async def test_owners_create_and_connections_resolve(c: GraphQLClient, cognito_pool: CognitoPool) -> None:
    ann = user(c, cognito_pool, "ann")
    blog, post = await make_blog(ann)
    assert blog["owner"] == post["owner"] == "ann"  # stored as sub::username, read through Post.owner
    data = await ann.ok("""query($id: ID!) { getBlog(id: $id) { name posts(sortDirection: ASC) { items { title
        comments { items { text post { title blog { name } } } } } } } }""", id=blog["id"])
    posts = data["getBlog"]["posts"]["items"]
    assert [p["title"] for p in posts] == ["Hello", "Later"]  # byBlog sorts by title
    assert [(x["text"], x["post"]["title"], x["post"]["blog"]["name"]) for x in posts[0]["comments"]["items"]] == [
        ("first!", "Hello", "ann's"), ("second", "Hello", "ann's")]
    # the sort key of Comment's primary key: only comments after May 1st
    data = await ann.ok("""query($id: ID!) { getPost(id: $id) {
        comments(postedAt: {gt: "2024-05-01T12:00:00.000Z"}) { items { text } } } }""", id=post["id"])
    assert data["getPost"]["comments"]["items"] == [{"text": "second"}]


async def test_the_index_query_field(c: GraphQLClient, cognito_pool: CognitoPool) -> None:
    ann = user(c, cognito_pool, "ann")
    _, post = await make_blog(ann)
    data = await ann.ok("""query { postsByStatus(status: PUBLISHED, title: {eq: "Hello"}) {
        items { id title status } } }""")
    assert {"id": post["id"], "title": "Hello", "status": "PUBLISHED"} in data["postsByStatus"]["items"]
    assert all(p["status"] == "PUBLISHED" for p in data["postsByStatus"]["items"])


async def test_owner_and_group_rules(c: GraphQLClient, cognito_pool: CognitoPool) -> None:
    ann, bob = user(c, cognito_pool, "ann"), user(c, cognito_pool, "bob")
    admin = user(c, cognito_pool, "carol", "Admin")
    _, post = await make_blog(ann)
    update = f"mutation($in: UpdatePostInput!) {{ updatePost(input: $in) {{ {POST} }} }}"
    r = await bob(update, **{"in": {"id": post["id"], "title": "mine now", "_version": post["_version"]}})
    assert r["data"] == {"updatePost": None} and r["errors"][0]["errorType"] == "Unauthorized"
    # bob sees nothing of ann's either (owner rule, no public rule for user pools)
    r = await bob("query($id: ID!) { getPost(id: $id) { title } }", id=post["id"])
    assert r["data"] == {"getPost": None} and r["errors"][0]["errorType"] == "Unauthorized"
    data = await admin.ok(update, **{"in": {"id": post["id"], "title": "moderated", "_version": post["_version"]}})
    assert data["updatePost"]["title"] == "moderated" and data["updatePost"]["owner"] == "ann"
    data = await ann.ok(update, **{"in": {"id": post["id"], "title": "edited", "_version": post["_version"] + 1}})
    assert data["updatePost"]["title"] == "edited" and data["updatePost"]["_version"] == post["_version"] + 2


async def test_the_api_key_reads_but_does_not_write(c: GraphQLClient, cognito_pool: CognitoPool) -> None:
    blog, post = await make_blog(user(c, cognito_pool, "ann"))
    public = Caller(c, {"x-api-key": KEY})
    data = await public.ok("query($id: ID!) { getPost(id: $id) { title blog { name } comments { items { text } } } }",
                           id=post["id"])
    assert data["getPost"] == {"title": "Hello", "blog": {"name": "ann's"},
                               "comments": {"items": [{"text": "first!"}, {"text": "second"}]}}
    r = await public("mutation($in: CreateBlogInput!) { createBlog(input: $in) { id } }", **{"in": {"name": "spam"}})
    assert r["data"] == {"createBlog": None} and r["errors"][0]["errorType"] == "Unauthorized"
    r = await public("mutation($in: DeleteBlogInput!) { deleteBlog(input: $in) { id } }",
                     **{"in": {"id": blog["id"], "_version": 1}})
    assert r["errors"][0]["errorType"] == "Unauthorized"


async def test_the_function_query_runs_the_local_handler(c: GraphQLClient, cognito_pool: CognitoPool) -> None:
    query = 'query { wordCount(text: "one two  three") }'
    assert await user(c, cognito_pool, "ann").ok(query) == {"wordCount": 3}
    assert await Caller(c, {"x-api-key": KEY}).ok(query) == {"wordCount": 3}


def test_the_function_needs_its_local_handler(blog_app: Path) -> None:
    templates = sorted((blog_app.parent / "out/cdk.out").glob("*.template.json"))
    status, text = run_gqlsync("import-cfn", *templates, "--assets", blog_app.parent / "out", "--out",
                               blog_app.parent / "again", "--parameter", f"AuthCognitoUserPoolId={CognitoPool.pool_id}")
    assert status == 2, text
    assert ("WordCountLambdaDataSource (AWS::AppSync::DataSource) LambdaConfig.LambdaFunctionArn: the data source "
            "calls the deployed function arn:aws:lambda:us-east-1:000000000000:function:wordCount; gqlsync runs Lambda "
            "functions only as local Python handlers: pass --lambda wordCount=path/to/handler.py:function") in text


SYNC_POSTS = """query($last: AWSTimestamp) { syncPosts(limit: 1000, lastSync: $last) {
    items { id title _version _lastChangedAt } startedAt nextToken } }"""


@pytest.mark.parametrize("reader", ["api key", "Admin"])
async def test_sync_posts_full_then_delta(c: GraphQLClient, cognito_pool: CognitoPool, reader: str) -> None:
    ann = user(c, cognito_pool, "ann")
    sync = Caller(c, {"x-api-key": KEY}) if reader == "api key" else user(c, cognito_pool, "carol", "Admin")
    _, post = await make_blog(ann)
    first = (await sync.ok(SYNC_POSTS))["syncPosts"]
    assert post["id"] in {p["id"] for p in first["items"]}
    await ann.ok(f"mutation($in: UpdatePostInput!) {{ updatePost(input: $in) {{ {POST} }} }}",
                 **{"in": {"id": post["id"], "title": "changed", "_version": 1}})
    delta = (await sync.ok(SYNC_POSTS, last=first["startedAt"]))["syncPosts"]["items"]
    assert (post["id"], "changed", 2) in [(p["id"], p["title"], p["_version"]) for p in delta]


async def test_an_owner_syncs_their_own_posts(c: GraphQLClient, cognito_pool: CognitoPool) -> None:
    ann, bob = user(c, cognito_pool, "ann"), user(c, cognito_pool, "bob")
    _, post = await make_blog(ann)
    await make_blog(bob)
    items = (await ann.ok(SYNC_POSTS.replace("_version", "owner _version")))["syncPosts"]["items"]
    assert post["id"] in {p["id"] for p in items} and all(p["owner"] == "ann" for p in items)
