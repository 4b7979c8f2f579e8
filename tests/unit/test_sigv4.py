"""gqlsync's SigV4 signer produces exactly what botocore's produces."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest.mock import patch

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from gqlsync.sigv4 import Credentials, sign

NOW = datetime(2026, 11, 23, 12, 34, 56, tzinfo=UTC)


def botocore_auth(method: str, url: str, headers: dict[str, str], body: bytes, token: str | None,
                  region: str, service: str) -> str:
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    with patch("botocore.auth.get_current_datetime", lambda: NOW.replace(tzinfo=None)):
        SigV4Auth(BotoCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token), service, region) \
            .add_auth(req)
    return str(req.headers["Authorization"])


@pytest.mark.parametrize("token", [None, "session-token/xyz=="])
def test_dynamodb_post_matches_botocore(token: str | None) -> None:
    body = b'{"TableName":"events","Key":{"id":{"S":"1"}}}'
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.GetItem"}
    ours = sign("POST", "https://dynamodb.eu-west-1.amazonaws.com/", headers, body,
                Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token), "eu-west-1",
                "dynamodb", NOW)
    assert ours["authorization"] == botocore_auth("POST", "https://dynamodb.eu-west-1.amazonaws.com/", headers,
                                                  body, token, "eu-west-1", "dynamodb")


@settings(max_examples=50, deadline=None)
@given(path=st.from_regex(r"/[a-zA-Z0-9/_\-.~]{0,30}", fullmatch=True),
       query=st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True),
                             st.from_regex(r"[a-zA-Z0-9]{0,6}", fullmatch=True), max_size=3),
       body=st.binary(max_size=200), header=st.from_regex(r"[a-zA-Z0-9 ]{0,20}", fullmatch=True))
def test_any_request_matches_botocore(path: str, query: dict[str, str], body: bytes, header: str) -> None:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    url = f"https://api.example.com{path}" + (f"?{qs}" if qs else "")
    headers = {"X-Custom": header.strip() or "x"}
    ours = sign("POST", url, headers, body, Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                "us-east-1", "appsync", NOW)
    assert ours["authorization"] == botocore_auth("POST", url, headers, body, None, "us-east-1", "appsync")
