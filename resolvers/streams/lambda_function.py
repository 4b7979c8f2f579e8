"""The DynamoDB-to-search sync function as an AWS Lambda handler (`handler`), a drop-in for Amplify's @searchable one.

Deployed on a DynamoDB Streams event source mapping, it applies each batch to the search cluster with gqlsync's
stream handler (`gqlsync.streams.handler.handle`): one `_bulk` per batch, Amplify's index and document-id rules,
versioned soft deletes with external versions. Configuration, all from the environment:

- `OPENSEARCH_ENDPOINT` (the variable Amplify's function reads; `SEARCH_ENDPOINT` and the older transformer's
  `ES_ENDPOINT` are read too): the cluster's URL (`https://` is assumed when no scheme is given).
- `SIGNING`: `auto` (the default: SigV4 for *.es.amazonaws.com as `es`, *.aoss.amazonaws.com as `aoss`),
  `sigv4` (always; `es` unless the host says `aoss`) or `none`. Signing uses the function's credentials (botocore)
  and the region in the host name, else `AWS_REGION`.
- `INDEX` (optional): put every record in this index instead of the one Amplify's rule gives (the table name,
  lower-cased, up to its first '-').
- `DEAD_LETTER_QUEUE_URL` (optional): records that cannot be indexed are sent to this SQS queue, one message each
  (`{"reason", "record"}`); without it each is logged as one JSON line (`{"deadLetter": {...}}`) to CloudWatch.

What the function answers, and so what Lambda retries: a record the cluster refuses (a mapping conflict, a
malformed record) or keeps failing on is dead-lettered, never retried forever; the batch then counts as done and
the answer is `{"batchItemFailures": []}` (the shape ReportBatchItemFailures reads: nothing to retry, with or
without that setting). When the cluster cannot be reached, or a dead letter cannot be sent, the handler raises,
so the event source mapping retries the whole batch (its MaximumRetryAttempts / MaximumRecordAgeInSeconds and
on-failure destination then apply); replaying a batch leaves the index as one pass would.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gqlsync.app.model import amplify_index
from gqlsync.streams.handler import Outcome, handle

_ENDPOINT_VARIABLES = ("OPENSEARCH_ENDPOINT", "SEARCH_ENDPOINT", "ES_ENDPOINT")
_AWS_HOST = re.compile(r"\.(es|aoss)\.amazonaws\.com(\.cn)?$")
#: The largest SQS message body; a dead letter above it is sent without its images.
_SQS_MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class Settings:
    """The function's configuration, read from its environment."""

    endpoint: str
    #: SigV4 service to sign for (`es` | `aoss`), None: unsigned
    service: str | None = None
    region: str | None = None
    index: str | None = None
    dead_letter_queue_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        endpoint = next((env[k].strip() for k in _ENDPOINT_VARIABLES if env.get(k, "").strip()), "")
        if not endpoint:
            raise RuntimeError("set OPENSEARCH_ENDPOINT to the search cluster's URL")
        if "://" not in endpoint:
            endpoint = "https://" + endpoint
        host = urlsplit(endpoint).hostname or ""
        aws = _AWS_HOST.search(host)
        signing = env.get("SIGNING", "auto").strip().lower() or "auto"
        if signing not in ("auto", "sigv4", "none"):
            raise RuntimeError(f"SIGNING must be auto, sigv4 or none, not {signing!r}")
        service = None
        if signing == "sigv4" or (signing == "auto" and aws):
            service = aws.group(1) if aws else "es"
        parts = host.split(".")
        # search-<domain>-<id>.<region>.es.amazonaws.com, <id>.<region>.aoss.amazonaws.com
        region = parts[-4] if aws and len(parts) >= 4 else env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if service and not region:
            raise RuntimeError(f"signing requests to {endpoint} needs a region: set AWS_REGION")
        return cls(endpoint, service, region, env.get("INDEX") or None, env.get("DEAD_LETTER_QUEUE_URL") or None)

    def index_for(self) -> Callable[[str], str]:
        index = self.index
        return amplify_index if index is None else (lambda _table: index)


class LogDeadLetters:
    """Dead letters as one JSON line each on stdout (a CloudWatch log event each)."""

    def put(self, record: dict[str, Any], reason: str) -> None:
        print(json.dumps({"deadLetter": {"reason": reason, "record": record}}, separators=(",", ":"), default=str),
              flush=True)


class QueueDeadLetters:
    """Dead letters sent to an SQS queue, one message each: `{"reason", "record"}`."""

    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url
        self._sqs: Any = None

    def put(self, record: dict[str, Any], reason: str) -> None:
        body = json.dumps({"reason": reason, "record": record}, separators=(",", ":"), default=str)
        if len(body.encode()) > _SQS_MAX_BYTES:  # the images make it too big: the keys say which item it was
            ddb = {k: v for k, v in (record.get("dynamodb") or {}).items() if k not in ("NewImage", "OldImage")}
            body = json.dumps({"reason": reason, "record": {**record, "dynamodb": ddb}, "imagesLeftOut": True},
                              separators=(",", ":"), default=str)
        if self._sqs is None:
            import boto3

            self._sqs = boto3.client("sqs")
        self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)


def _client(settings: Settings) -> Any:
    from opensearchpy import AsyncHttpConnection, AsyncOpenSearch

    options: dict[str, Any] = {"hosts": [settings.endpoint], "connection_class": AsyncHttpConnection}
    if settings.service:
        import botocore.session
        from opensearchpy import AWSV4SignerAsyncAuth

        credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise RuntimeError(f"no AWS credentials to sign requests to {settings.endpoint} with")
        options["http_auth"] = AWSV4SignerAsyncAuth(credentials, settings.region or "", settings.service)
    return AsyncOpenSearch(**options)


class _Function:
    """One event loop and one search client kept across invocations (a warm function reuses its connections)."""

    def __init__(self) -> None:
        self.runner: asyncio.Runner | None = None
        self.settings: Settings | None = None
        self.client: Any = None

    def __call__(self, event: Mapping[str, Any]) -> Outcome:
        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list):
            raise ValueError("not a DynamoDB Streams event: it has no Records list")
        settings = Settings.from_env(os.environ)
        if self.runner is None:
            self.runner = asyncio.Runner()
        return self.runner.run(self.apply(settings, records))

    async def apply(self, settings: Settings, records: list[dict[str, Any]]) -> Outcome:
        if settings != self.settings:
            if self.client is not None:
                await self.client.close()
            self.client, self.settings = _client(settings), settings
        dead_letters = (QueueDeadLetters(settings.dead_letter_queue_url) if settings.dead_letter_queue_url
                        else LogDeadLetters())
        return await handle(records, self.client, dead_letters, index_for=settings.index_for())

    def close(self) -> None:
        if self.runner is not None:
            if self.client is not None:
                self.runner.run(self.client.close())
            self.runner.close()
        self.runner = self.client = self.settings = None


_function = _Function()
atexit.register(_function.close)  # an interpreter that exits (not one Lambda freezes) closes the connections


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda's entry point: applies a DynamoDB Streams batch; raises (so Lambda retries it) when the cluster
    cannot be reached."""
    outcome = _function(event)
    print(json.dumps({"indexed": outcome.indexed, "deleted": outcome.deleted, "superseded": outcome.superseded,
                      "deadLettered": len(outcome.dead)}), file=sys.stdout, flush=True)
    return {"batchItemFailures": []}
