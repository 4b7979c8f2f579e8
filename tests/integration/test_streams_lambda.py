"""The Lambda form of the sync function (resolvers/streams/lambda_function.py), called as Lambda calls it with
DynamoDB Streams events, against the embedded search engine through opensearch-py."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from opensearchpy import ConnectionError as Unreachable
from opensearchpy import OpenSearch

from gqlsync.embedded.search import EmbeddedSearch
from gqlsync.resources import data_dir

pytestmark = pytest.mark.integration
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Todo-k3x7abcdefgh-dev/stream/2026-12-01T10:00:00.000"
_seq = iter(range(4421584500000000017450439091, 5421584500000000017450439091, 1000))


def load_function() -> ModuleType:
    """The module as the installed package ships it (gqlsync/_data/resolvers in a wheel, resolvers/ here)."""
    path = data_dir("resolvers") / "streams" / "lambda_function.py"
    spec = importlib.util.spec_from_file_location("lambda_function", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as Lambda's runtime imports it: a module like any other
    spec.loader.exec_module(module)
    return module


def record(event: str, keys: dict[str, Any], new: dict[str, Any] | None = None,
           old: dict[str, Any] | None = None, view: str = "NEW_AND_OLD_IMAGES") -> dict[str, Any]:
    """One record as Lambda hands it over (the DynamoDB Streams record with the event source's fields)."""
    ddb: dict[str, Any] = {"ApproximateCreationDateTime": 1796126400.0, "Keys": keys,
                           "SequenceNumber": str(next(_seq)), "SizeBytes": 59, "StreamViewType": view}
    if new is not None:
        ddb["NewImage"] = new
    if old is not None:
        ddb["OldImage"] = old
    return {"eventID": "c81e728d9d4c2f636f067f89cc14862c", "eventName": event, "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "dynamodb": ddb, "eventSourceARN": ARN}


def todo(id: str, name: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": {"S": id}, "name": {"S": name}, "__typename": {"S": "Todo"}}
    for k, v in extra.items():
        out[k] = {"BOOL": v} if isinstance(v, bool) else {"N": str(v)}
    return out


def key(id: str) -> dict[str, Any]:
    return {"id": {"S": id}}


@pytest.fixture(scope="module")
def function() -> ModuleType:
    return load_function()


@pytest.fixture
def search(search_engine: EmbeddedSearch, monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenSearch]:
    monkeypatch.setenv("OPENSEARCH_ENDPOINT", search_engine.endpoint)
    for name in ("SEARCH_ENDPOINT", "ES_ENDPOINT", "SIGNING", "INDEX", "DEAD_LETTER_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    client = OpenSearch(hosts=[search_engine.endpoint])
    for index in ("todo", "everything"):
        client.indices.delete(index=index, ignore=404)
    yield client
    client.close()


def docs(client: OpenSearch, index: str = "todo") -> dict[str, Any]:
    client.indices.refresh(index=index)
    hits = client.search(index=index, body={"query": {"match_all": {}}, "size": 100})["hits"]["hits"]
    return {h["_id"]: h["_source"] for h in hits}


def logged(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_a_batch_reaches_the_index_and_bad_records_are_logged_dead_letters(
        function: ModuleType, search: OpenSearch, capsys: pytest.CaptureFixture[str]) -> None:
    bad = record("MODIFY", key("t9"), view="KEYS_ONLY")  # a stream without images: nothing to index
    event = {"Records": [
        record("INSERT", key("t1"), todo("t1", "milk", priority=2)),
        record("INSERT", key("t2"), todo("t2", "eggs")),
        record("MODIFY", key("t1"), todo("t1", "oat milk", priority=3, done=False), todo("t1", "milk", priority=2)),
        record("REMOVE", key("t2"), old=todo("t2", "eggs")),
        bad,
    ]}
    assert function.handler(event, None) == {"batchItemFailures": []}
    assert docs(search) == {"t1": {"id": "t1", "name": "oat milk", "priority": 3, "done": False,
                                   "__typename": "Todo"}}
    lines = logged(capsys.readouterr().out)
    assert [line["deadLetter"] for line in lines if "deadLetter" in line] == [
        {"reason": "the record has no NewImage (the stream must carry new images)", "record": bad}]
    assert lines[-1] == {"indexed": 3, "deleted": 1, "superseded": 0, "deadLettered": 1}


def test_a_versioned_soft_delete_removes_the_document_and_an_older_image_never_overwrites_a_newer_one(
        function: ModuleType, search: OpenSearch, capsys: pytest.CaptureFixture[str]) -> None:
    v = {"_lastChangedAt": 1796126400000}
    function.handler({"Records": [record("INSERT", key("d1"), todo("d1", "draft", _version=1, **v)),
                                  record("INSERT", key("d2"), todo("d2", "first", _version=1, **v)),
                                  record("MODIFY", key("d2"), todo("d2", "second", _version=2, **v),
                                         todo("d2", "first", _version=1, **v))]}, None)
    assert docs(search) == {"d1": {"id": "d1", "name": "draft", "__typename": "Todo", **v},
                            "d2": {"id": "d2", "name": "second", "__typename": "Todo", **v}}
    deleted = todo("d1", "draft", _version=2, _deleted=True, **v)  # DataStore's delete: a MODIFY with _deleted
    function.handler({"Records": [record("MODIFY", key("d1"), deleted, todo("d1", "draft", _version=1, **v))]}, None)
    assert set(docs(search)) == {"d2"}
    # a batch replayed (as Lambda does after a failure): version 1 is older than what the index holds
    function.handler({"Records": [record("INSERT", key("d2"), todo("d2", "first", _version=1, **v))]}, None)
    assert docs(search)["d2"]["name"] == "second"
    assert [line for line in logged(capsys.readouterr().out) if "indexed" in line] == [
        {"indexed": 3, "deleted": 0, "superseded": 0, "deadLettered": 0},
        {"indexed": 0, "deleted": 1, "superseded": 0, "deadLettered": 0},
        {"indexed": 0, "deleted": 0, "superseded": 1, "deadLettered": 0}]


def test_a_document_the_cluster_refuses_is_a_dead_letter_and_the_batch_is_done(
        function: ModuleType, search: OpenSearch, capsys: pytest.CaptureFixture[str]) -> None:
    search.indices.create(index="todo", body={"mappings": {"properties": {"priority": {"type": "long"}}}})
    refused = record("INSERT", key("m1"), {**todo("m1", "x"), "priority": {"S": "urgent"}})
    answer = function.handler({"Records": [refused, record("INSERT", key("m2"), todo("m2", "y", priority=1))]}, None)
    assert answer == {"batchItemFailures": []} and list(docs(search)) == ["m2"]
    (letter,) = [line["deadLetter"] for line in logged(capsys.readouterr().out) if "deadLetter" in line]
    assert "mapper_parsing_exception" in letter["reason"] and letter["record"] == refused


def test_index_puts_every_record_in_the_index_it_names(
        function: ModuleType, search: OpenSearch, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INDEX", "everything")
    function.handler({"Records": [record("INSERT", key("i1"), todo("i1", "anywhere"))]}, None)
    assert list(docs(search, "everything")) == ["i1"]


def test_sigv4_signing_sends_signed_requests(
        function: ModuleType, search: OpenSearch, monkeypatch: pytest.MonkeyPatch) -> None:
    # the embedded engine does not check signatures; this runs the signing path (botocore credentials, the signer)
    monkeypatch.setenv("SIGNING", "sigv4")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    function.handler({"Records": [record("INSERT", key("s1"), todo("s1", "signed"))]}, None)
    assert list(docs(search)) == ["s1"]


def test_dead_letters_go_to_the_queue_when_one_is_named(
        function: ModuleType, search: OpenSearch, monkeypatch: pytest.MonkeyPatch) -> None:
    moto = pytest.importorskip("moto")
    import boto3

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    with moto.mock_aws():  # SQS stands in-process; the search cluster is the real embedded engine
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="search-dead-letters")["QueueUrl"]
        monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", url)
        unknown = {**record("INSERT", key("q1"), todo("q1", "x")), "eventName": "TTL"}
        function.handler({"Records": [unknown, record("INSERT", key("q2"), todo("q2", "fine"))]}, None)
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in messages] == [{"reason": "unknown eventName 'TTL'", "record": unknown}]
    assert list(docs(search)) == ["q2"]


def test_an_unreachable_cluster_raises_so_lambda_retries_the_batch(
        function: ModuleType, search: OpenSearch, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OPENSEARCH_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(Unreachable):
        function.handler({"Records": [record("INSERT", key("u1"), todo("u1", "lost?"))]}, None)
    assert not [line for line in logged(capsys.readouterr().out) if "deadLetter" in line]  # retried, not dead


@pytest.mark.parametrize("env, expected", [
    ({"OPENSEARCH_ENDPOINT": "https://search-todo-abc123.us-west-2.es.amazonaws.com", "AWS_REGION": "eu-west-1"},
     ("https://search-todo-abc123.us-west-2.es.amazonaws.com", "es", "us-west-2")),
    ({"SEARCH_ENDPOINT": "abc123.eu-central-1.aoss.amazonaws.com"},
     ("https://abc123.eu-central-1.aoss.amazonaws.com", "aoss", "eu-central-1")),
    ({"OPENSEARCH_ENDPOINT": "http://127.0.0.1:9200"}, ("http://127.0.0.1:9200", None, None)),
    ({"OPENSEARCH_ENDPOINT": "https://search.internal:9200", "SIGNING": "sigv4", "AWS_REGION": "ap-south-1"},
     ("https://search.internal:9200", "es", "ap-south-1")),
    ({"OPENSEARCH_ENDPOINT": "https://search-x-1.us-east-1.es.amazonaws.com", "SIGNING": "none"},
     ("https://search-x-1.us-east-1.es.amazonaws.com", None, "us-east-1")),
])
def test_settings_sign_for_aws_domains_with_the_region_in_the_host(
        function: ModuleType, env: dict[str, str], expected: tuple[Any, ...]) -> None:
    s = function.Settings.from_env(env)
    assert (s.endpoint, s.service, s.region) == expected


@pytest.mark.parametrize("env, message", [
    ({}, "set OPENSEARCH_ENDPOINT to the search cluster's URL"),
    ({"OPENSEARCH_ENDPOINT": "http://x:9200", "SIGNING": "yes"}, "SIGNING must be auto, sigv4 or none, not 'yes'"),
    ({"OPENSEARCH_ENDPOINT": "http://x:9200", "SIGNING": "sigv4"},
     "signing requests to http://x:9200 needs a region: set AWS_REGION"),
])
def test_a_misconfigured_function_says_what_to_set(function: ModuleType, env: dict[str, str], message: str) -> None:
    with pytest.raises(RuntimeError) as exc:
        function.Settings.from_env(env)
    assert str(exc.value) == message
