"""gqlsync's SigV4 signer produces exactly what botocore's produces."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from unittest.mock import patch
from urllib.parse import quote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from gqlsync.sigv4 import Credentials, sign, signature

NOW = datetime(2026, 11, 23, 12, 34, 56, tzinfo=UTC)


def botocore_auth(method: str, url: str, headers: dict[str, str], body: bytes, token: str | None,
                  region: str, service: str, params: list[tuple[str, str]] | None = None) -> str:
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers), params=params or {})
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


# Query parameter text: anything (spaces, %, +, =, &, unicode) plus text that already looks percent-encoded.
QUERY_TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
    st.sampled_from(["b%20c", "%", "%zz", "%2F", "%2f", "a+b", "x=y", "p&q", "caf\u00e9", "\U0001f600", " ", "~-._"]))
STRICT = "-_.~"  # what SigV4 leaves unencoded
LENIENT = "-_.~!*'()@:$,;/?"  # what a browser or another HTTP client may leave unencoded


def encode_query(pairs: list[tuple[str, str]], safe: str) -> str:
    return "&".join(f"{quote(k, safe=safe)}={quote(v, safe=safe)}" for k, v in pairs)


@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(QUERY_TEXT, QUERY_TEXT), max_size=4), safe=st.sampled_from([STRICT, LENIENT]))
def test_any_query_matches_botocore(pairs: list[tuple[str, str]], safe: str) -> None:
    """Arbitrary parameters, however the URL encodes them, are signed (sign) and verified (signature) as botocore
    signs them; botocore's own URL and parameter signing agree when the URL carries the canonical encoding."""
    base = "https://api.example.com/graphql"
    query = encode_query(pairs, safe)
    url = f"{base}?{query}" if pairs else base
    headers = {"Content-Type": "application/json"}
    body = b'{"query":"{ a }"}'
    expected = botocore_auth("POST", base, headers, body, None, "us-east-1", "appsync", params=pairs)
    if safe == STRICT:
        assert botocore_auth("POST", url, headers, body, None, "us-east-1", "appsync") == expected
    ours = sign("POST", url, headers, body, Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                "us-east-1", "appsync", NOW)
    assert ours["authorization"] == expected
    signed = {"content-type": "application/json", "host": "api.example.com", "x-amz-date": "20261123T123456Z"}
    assert signature("POST", "/graphql", query if pairs else "", signed, hashlib.sha256(body).hexdigest(),
                     "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20261123T123456Z", "us-east-1", "appsync") \
        == expected.rsplit("Signature=", 1)[1]


@pytest.mark.parametrize("query", ["a=b%20c", "a=b%2Bc&a=b%20c", "k%C3%A9y=%E2%9C%93", "flag", "x=%2f"])
def test_encoded_query_matches_botocore(query: str) -> None:
    """Already percent-encoded query strings are not encoded a second time."""
    url = f"https://api.example.com/graphql?{query}"
    ours = sign("GET", url, {}, b"", Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                "us-east-1", "appsync", NOW)
    canonical = query.replace("%2f", "%2F")
    assert ours["authorization"] == botocore_auth("GET", f"https://api.example.com/graphql?{canonical}", {}, b"",
                                                  None, "us-east-1", "appsync")
