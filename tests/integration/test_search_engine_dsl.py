"""The table-driven DSL suite through both official clients (opensearch-py, elasticsearch) over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import elasticsearch
import opensearchpy
import pytest
from elasticsearch import AsyncElasticsearch
from opensearchpy import AsyncOpenSearch

from gqlsync.embedded.search import EmbeddedSearch
from tests.search_cases import Case, all_cases, datasets, run_case

pytestmark = pytest.mark.integration
CASES = all_cases()


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedSearch(Path(tmp_path_factory.mktemp("search-dsl")))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def os_client(endpoint: str) -> AsyncIterator[AsyncOpenSearch]:
    client = AsyncOpenSearch(endpoint)
    for name, data in datasets().items():
        body = {"mappings": data["mappings"]} if data.get("mappings") else {}
        await client.indices.create(index=name, body=body)
        actions: list[dict[str, Any]] = []
        for doc_id, source in data["docs"].items():
            actions += [{"index": {"_index": name, "_id": str(doc_id)}}, source]
        result = await client.bulk(body=actions, params={"refresh": "true"})
        assert not result["errors"], result
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(scope="module")
async def es_client(endpoint: str, os_client: AsyncOpenSearch) -> AsyncIterator[AsyncElasticsearch]:
    client = AsyncElasticsearch(endpoint)
    try:
        yield client
    finally:
        await client.close()


def _os_error(exc: opensearchpy.TransportError) -> tuple[int, Any]:
    status = int(exc.status_code)
    if status == 400:
        assert isinstance(exc, opensearchpy.RequestError)
    elif status == 404:
        assert isinstance(exc, opensearchpy.NotFoundError)
    return status, exc.info


def _es_error(exc: elasticsearch.ApiError) -> tuple[int, Any]:
    status = exc.meta.status
    if status == 400:
        assert isinstance(exc, elasticsearch.BadRequestError)
    elif status == 404:
        assert isinstance(exc, elasticsearch.NotFoundError)
    return status, exc.body


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_case_opensearch_py(case: Case, os_client: AsyncOpenSearch) -> None:
    async def search(params: dict[str, str], body: dict[str, Any] | None) -> tuple[int, Any]:
        try:
            return 200, await os_client.search(index=case.file, body=body, params=params)
        except opensearchpy.TransportError as exc:
            return _os_error(exc)

    async def count(body: dict[str, Any] | None) -> tuple[int, Any]:
        try:
            return 200, await os_client.count(index=case.file, body=body)
        except opensearchpy.TransportError as exc:
            return _os_error(exc)

    await run_case(case, search, count)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_case_elasticsearch_py(case: Case, es_client: AsyncElasticsearch) -> None:
    async def search(params: dict[str, str], body: dict[str, Any] | None) -> tuple[int, Any]:
        try:
            if params:  # arbitrary parameters: the client's own request path, as its APIs use it
                resp = await es_client.perform_request("POST", f"/{case.file}/_search", params=params, body=body,
                                                       headers={"accept": "application/json",
                                                                "content-type": "application/json"})
            else:
                resp = await es_client.search(index=case.file, body=body)
            return 200, resp.body
        except elasticsearch.ApiError as exc:
            return _es_error(exc)

    async def count(body: dict[str, Any] | None) -> tuple[int, Any]:
        try:
            return 200, (await es_client.count(index=case.file, body=body)).body
        except elasticsearch.ApiError as exc:
            return _es_error(exc)

    await run_case(case, search, count)
