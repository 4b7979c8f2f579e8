"""The explorer's page and its vendored files: served from the package, cacheable, nothing else reachable."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from gqlsync.app import load_app
from gqlsync.http import GqlsyncServer, ServerSettings, create_app
from gqlsync.http.explorer import STATIC_DIR, STATIC_PATH, explorer_page
from tests.helpers import EVENT_APP, EVENT_KEY

VENDORED = ["graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js",
            "graphql-ws.min.js"]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    server = GqlsyncServer(load_app(EVENT_APP), ServerSettings(dev=True, dynamodb_endpoint="http://127.0.0.1:9"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(server)),
                                 base_url="http://gqlsync.test") as client:
        yield client


async def test_the_page_loads_every_script_from_the_package(http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    links = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(link.split("?")[0] for link in links if not link.startswith("data:")) == \
        sorted(f"{STATIC_PATH}/{name}" for name in VENDORED)
    assert "unpkg" not in page.text and "https://" not in page.text
    assert EVENT_KEY in page.text  # dev: the headers editor starts with the first API key
    for link in links:
        if not link.startswith("data:"):
            r = await http.get(link)
            assert r.status_code == 200, link


async def test_vendored_files_are_served_with_types_cache_and_gzip(http: httpx.AsyncClient) -> None:
    for name in VENDORED:
        raw = (STATIC_DIR / name).read_bytes()
        r = await http.get(f"{STATIC_PATH}/{name}", headers={"accept-encoding": "identity"})
        assert r.status_code == 200 and r.content == raw
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        assert r.headers["content-type"] == f"{kind}; charset=utf-8"
        assert "immutable" in r.headers["cache-control"] and "max-age=31536000" in r.headers["cache-control"]
        again = await http.get(f"{STATIC_PATH}/{name}", headers={"if-none-match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
    zipped = await http.get(f"{STATIC_PATH}/graphiql.min.js", headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < (STATIC_DIR / "graphiql.min.js").stat().st_size // 2
    assert zipped.content == (STATIC_DIR / "graphiql.min.js").read_bytes()  # httpx decodes it


@pytest.mark.parametrize("path", ["explorer.html", "vendor.sh", "README.md", "LICENSE.react", "nope.js",
                                  "..%2Fexplorer.py", "%2e%2e/explorer.py", "../explorer.py", "..%2F..%2Fapp.py"])
async def test_nothing_but_the_vendored_files_is_reachable(http: httpx.AsyncClient, path: str) -> None:
    r = await http.get(f"{STATIC_PATH}/{path}")
    assert r.status_code == 404 and "import" not in r.text


def test_the_page_escapes_what_it_embeds() -> None:
    body = bytes(explorer_page('</script><b>"x"', "http://h/graphql", '</script>"k__TITLE__').body).decode()
    assert "</script><b>" not in body and "<b>" not in body
    assert body.count("</script>") == body.count("<script")  # nothing closes a script early
    assert "__TITLE__" in body  # the key's text stays as given: it is not substituted again
    mounted = bytes(explorer_page("t", "http://h/api/graphql", "", root_path="/api").body).decode()
    assert f'src="/api{STATIC_PATH}/graphiql.min.js?v=' in mounted
