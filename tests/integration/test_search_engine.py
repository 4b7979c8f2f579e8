"""EmbeddedSearch over HTTP with the official clients: documents, bulk, errors, persistence, wire details."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import elasticsearch
import httpx
import opensearchpy
import pytest
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_bulk as es_async_bulk
from opensearchpy import AsyncOpenSearch
from opensearchpy.helpers import async_bulk as os_async_bulk

from gqlsync.embedded.search import EmbeddedSearch

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(search_engine: EmbeddedSearch) -> EmbeddedSearch:
    return search_engine


@pytest.fixture
async def osc(server: EmbeddedSearch) -> AsyncIterator[AsyncOpenSearch]:
    client = AsyncOpenSearch(server.endpoint)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def esc(server: EmbeddedSearch) -> AsyncIterator[AsyncElasticsearch]:
    client = AsyncElasticsearch(server.endpoint)
    try:
        yield client
    finally:
        await client.close()


async def test_start_returns_a_loopback_url_and_both_clients_accept_the_server(
        server: EmbeddedSearch, osc: AsyncOpenSearch, esc: AsyncElasticsearch) -> None:
    assert server.endpoint.startswith("http://127.0.0.1:")
    info = await osc.info()
    assert info["version"]["distribution"] == "opensearch" and info["version"]["number"].startswith("2.")
    assert (await esc.info())["version"]["number"] == info["version"]["number"]  # no UnsupportedProductError
    health = await osc.cluster.health()
    assert health["status"] in ("green", "yellow") and health["number_of_nodes"] == 1


def test_wire_headers_and_media_types(server: EmbeddedSearch) -> None:
    with httpx.Client(base_url=server.endpoint) as http:
        plain = http.get("/")
        assert plain.headers["x-elastic-product"] == "Elasticsearch"
        assert plain.headers["content-type"].startswith("application/json")
        compat = http.get("/", headers={"accept": "application/vnd.elasticsearch+json; compatible-with=9"})
        assert compat.headers["content-type"] == "application/vnd.elasticsearch+json;compatible-with=9"
        missing = http.get("/no-such-index/_search")
        assert missing.status_code == 404 and missing.headers["x-elastic-product"] == "Elasticsearch"
        unknown = http.get("/_no_such_api")
        assert unknown.status_code == 400 and "no handler found" in unknown.json()["error"]["reason"]
        wrong = http.delete("/_search")
        assert wrong.status_code == 405
        bad_param = http.get("/_search", params={"colour": "red"})
        assert bad_param.status_code == 400 and "unrecognized parameter" in bad_param.json()["error"]["reason"]
        bad_json = http.post("/x/_doc/1", content=b"{not json", headers={"content-type": "application/json"})
        assert bad_json.status_code == 400 and bad_json.json()["error"]["type"] == "parse_exception"
        pretty = http.get("/", params={"pretty": "true"})
        assert pretty.text.startswith("{\n")
        filtered = http.get("/", params={"filter_path": "version.number"})
        assert list(filtered.json()) == ["version"] and list(filtered.json()["version"]) == ["number"]


async def test_documents_through_opensearch_py(osc: AsyncOpenSearch) -> None:
    created = await osc.index(index="os-docs", id="a/b c", body={"title": "Hello", "n": 1}, params={"refresh": "true"})
    assert created["result"] == "created" and created["_version"] == 1
    got = await osc.get(index="os-docs", id="a/b c")
    assert got["found"] and got["_source"] == {"title": "Hello", "n": 1}
    assert await osc.exists(index="os-docs", id="a/b c") is True
    assert await osc.exists(index="os-docs", id="nope") is False
    assert await osc.indices.exists(index="os-docs") is True
    assert await osc.indices.exists(index="os-nope") is False
    updated = await osc.update(index="os-docs", id="a/b c", body={"doc": {"n": 2}})
    assert updated["result"] == "updated" and updated["_version"] == 2
    generated = await osc.index(index="os-docs", body={"title": "auto id"})
    assert generated["result"] == "created" and generated["_id"]
    assert (await osc.count(index="os-docs"))["count"] == 2
    mapping = await osc.indices.get_mapping(index="os-docs")
    assert mapping["os-docs"]["mappings"]["properties"]["n"] == {"type": "long"}
    assert (await osc.delete(index="os-docs", id="a/b c"))["result"] == "deleted"
    with pytest.raises(opensearchpy.NotFoundError) as info:
        await osc.get(index="os-docs", id="a/b c")
    assert info.value.status_code == 404
    with pytest.raises(opensearchpy.NotFoundError) as nf:
        await osc.search(index="os-missing", body={"query": {"match_all": {}}})
    assert nf.value.error == "index_not_found_exception"
    with pytest.raises(opensearchpy.RequestError) as bad:
        await osc.search(index="os-docs", body={"query": {"no_such_query": {}}})
    assert bad.value.status_code == 400 and bad.value.error == "parsing_exception"
    with pytest.raises(opensearchpy.ConflictError):
        await osc.create(index="os-docs", id=generated["_id"], body={"x": 1})
    with pytest.raises(opensearchpy.RequestError) as exists:
        await osc.indices.create(index="os-docs")
    assert exists.value.error == "resource_already_exists_exception"
    assert (await osc.indices.delete(index="os-docs"))["acknowledged"] is True


async def test_documents_through_elasticsearch_py(esc: AsyncElasticsearch) -> None:
    await esc.indices.create(index="es-docs", mappings={"properties": {"title": {"type": "text"},
                                                                       "tag": {"type": "keyword"}}})
    created = await esc.index(index="es-docs", id="1", document={"title": "Hello world", "tag": "x"}, refresh=True)
    assert created["result"] == "created"
    got = await esc.get(index="es-docs", id="1")
    assert got["_source"] == {"title": "Hello world", "tag": "x"}
    assert await esc.exists(index="es-docs", id="1")
    assert not await esc.exists(index="es-docs", id="2")
    assert await esc.indices.exists(index="es-docs")
    upsert = await esc.update(index="es-docs", id="2", doc={"title": "second", "tag": "y"}, doc_as_upsert=True)
    assert upsert["result"] == "created"
    found = await esc.search(index="es-docs", query={"match": {"title": "hello"}}, size=5)
    assert [h["_id"] for h in found["hits"]["hits"]] == ["1"]
    aggs = await esc.search(index="es-docs", size=0, aggs={"t": {"terms": {"field": "tag"}}})
    assert [b["key"] for b in aggs["aggregations"]["t"]["buckets"]] == ["x", "y"]
    with pytest.raises(elasticsearch.NotFoundError) as nf:
        await esc.get(index="es-docs", id="404")
    assert nf.value.meta.status == 404
    with pytest.raises(elasticsearch.NotFoundError) as missing:
        await esc.search(index="es-missing")
    assert missing.value.message == "index_not_found_exception"
    with pytest.raises(elasticsearch.BadRequestError) as bad:
        await esc.search(index="es-docs", sort=[{"title": "asc"}])
    assert bad.value.body["error"]["root_cause"][0]["type"] == "illegal_argument_exception"
    with pytest.raises(elasticsearch.ConflictError):
        await esc.create(index="es-docs", id="1", document={"title": "again"})
    with pytest.raises(elasticsearch.BadRequestError):
        await esc.indices.put_mapping(index="es-docs", properties={"tag": {"type": "long"}})
    assert (await esc.delete(index="es-docs", id="2"))["result"] == "deleted"
    with pytest.raises(elasticsearch.NotFoundError):
        await esc.delete(index="es-docs", id="2")
    await esc.indices.delete(index="es-docs")


async def test_bulk_with_per_item_errors_through_both_clients(osc: AsyncOpenSearch, esc: AsyncElasticsearch) -> None:
    await osc.indices.create(index="bulk", body={"mappings": {"properties": {"n": {"type": "long"}}}})
    actions: list[dict[str, Any]] = [{"_index": "bulk", "_id": str(i), "_source": {"n": i}} for i in range(500)]
    actions.append({"_index": "bulk", "_id": "bad", "_source": {"n": "not a number"}})
    ok, errors = await os_async_bulk(osc, actions, raise_on_error=False, chunk_size=200)
    assert ok == 500 and len(errors) == 1
    assert errors[0]["index"]["error"]["type"] == "mapper_parsing_exception"
    deletes = [{"_op_type": "delete", "_index": "bulk", "_id": str(i)} for i in range(100)]
    deletes.append({"_op_type": "update", "_index": "bulk", "_id": "missing", "doc": {"n": 1}})
    ok, errors = await es_async_bulk(esc, deletes, raise_on_error=False)
    assert ok == 100 and errors[0]["update"]["status"] == 404  # type: ignore[index]
    assert (await osc.count(index="bulk"))["count"] == 400
    raw = await osc.bulk(body=[{"index": {"_index": "bulk", "_id": "x"}}, {"n": 1},
                               {"create": {"_index": "bulk", "_id": "x"}}, {"n": 2}])
    assert raw["errors"] is True and raw["items"][1]["create"]["status"] == 409
    await osc.indices.delete(index="bulk")


async def test_appsync_style_requests(osc: AsyncOpenSearch) -> None:
    """What a search resolver sends: a method, a path (old ones name a type), params and a body."""
    await osc.index(index="post", id="1", body={"title": "Search me", "author": "ann"})
    body = {"size": 10, "query": {"bool": {"must": [{"match": {"title": "search"}}]}},
            "sort": [{"author.keyword": {"order": "desc"}}], "version": False, "aggs": {}}
    for path in ("/post/_search", "/post/_doc/_search", "/post/post/_search"):
        result = await osc.transport.perform_request("GET", path, body=body)
        assert [h["_id"] for h in result["hits"]["hits"]] == ["1"], path
        assert result["hits"]["hits"][0]["sort"] == ["ann"]
    result = await osc.transport.perform_request("GET", "/post/_search", params={"q": "author:ann"})
    assert result["hits"]["total"]["value"] == 1
    await osc.indices.delete(index="post")


async def test_concurrent_requests(osc: AsyncOpenSearch) -> None:
    await osc.bulk(body=[x for i in range(50) for x in ({"index": {"_index": "conc", "_id": str(i)}}, {"n": i})])

    async def one(i: int) -> int:
        if i % 5 == 0:
            await osc.index(index="conc", id=f"w{i}", body={"n": 1000 + i})
        result = await osc.search(index="conc", body={"query": {"range": {"n": {"lt": 50}}}, "size": 0})
        return int(result["hits"]["total"]["value"])

    assert set(await asyncio.gather(*(one(i) for i in range(40)))) == {50}
    assert (await osc.count(index="conc"))["count"] == 58
    await osc.indices.delete(index="conc")


async def test_data_is_durable_across_stop_and_start(tmp_path: Path) -> None:
    first = EmbeddedSearch(tmp_path)
    url = first.start()
    client = AsyncOpenSearch(url)
    await client.indices.create(index="keep", body={"mappings": {"properties": {"t": {"type": "text"}}}})
    await client.bulk(body=[x for i in range(20) for x in ({"index": {"_index": "keep", "_id": str(i)}},
                                                            {"t": f"doc number {i}", "n": i})])
    await client.delete(index="keep", id="3")
    await client.close()
    first.stop()
    second = EmbeddedSearch(tmp_path)
    url = second.start()
    client = AsyncOpenSearch(url)
    try:
        assert (await client.count(index="keep"))["count"] == 19
        hits = (await client.search(index="keep", body={"query": {"match": {"t": "7"}}}))["hits"]["hits"]
        assert [h["_id"] for h in hits] == ["7"]
        assert (await client.get(index="keep", id="19"))["_source"] == {"t": "doc number 19", "n": 19}
        mapping = await client.indices.get_mapping(index="keep")
        assert mapping["keep"]["mappings"]["properties"]["n"] == {"type": "long"}
        again = await client.index(index="keep", id="20", body={"t": "after restart"})
        assert again["_seq_no"] == 21
    finally:
        await client.close()
        second.stop()
    second.stop()  # idempotent


async def test_msearch_and_analyze(osc: AsyncOpenSearch, esc: AsyncElasticsearch) -> None:
    await osc.bulk(body=[{"index": {"_index": "ms", "_id": "1"}}, {"t": "Hello World"},
                         {"index": {"_index": "ms", "_id": "2"}}, {"t": "other"}])
    result = await osc.msearch(body=[{"index": "ms"}, {"query": {"match": {"t": "hello"}}},
                                     {"index": "ms-missing"}, {"query": {"match_all": {}}},
                                     {}, {"query": {"match_all": {}}, "size": 0}], index="ms")
    first, missing, third = result["responses"]
    assert [h["_id"] for h in first["hits"]["hits"]] == ["1"] and first["status"] == 200
    assert missing["status"] == 404 and missing["error"]["type"] == "index_not_found_exception"
    assert third["hits"]["total"]["value"] == 2
    es_result = await esc.msearch(searches=[{"index": "ms"}, {"query": {"term": {"t.keyword": "other"}}}])
    assert es_result["responses"][0]["hits"]["hits"][0]["_id"] == "2"
    tokens = await osc.indices.analyze(body={"analyzer": "standard", "text": "The Quick-Brown fox's"})
    assert [t["token"] for t in tokens["tokens"]] == ["the", "quick", "brown", "fox's"]
    assert tokens["tokens"][1]["start_offset"] == 4
    await osc.indices.delete(index="ms")
