"""AWS_IAM: SigV4-signed requests (service `appsync`) verified against the credentials gqlsync is given."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gqlsync.app.model import AuthConfig, AuthMode
from gqlsync.auth.base import AUTH_MODES, AuthFailure, AuthResult, RequestFacts
from gqlsync.sigv4 import ALGORITHM, signature
from gqlsync.typed_config import parse_config

MAX_SKEW_SECONDS = 300
_AUTH = re.compile(r"^AWS4-HMAC-SHA256\s+Credential=([^/\s]+)/(\d{8})/([^/\s]+)/([^/\s]+)/aws4_request,\s*"
                   r"SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})$")


@dataclass(frozen=True)
class IamCredential:
    access_key: str
    secret_key: str
    account_id: str
    user_arn: str
    username: str


@dataclass(frozen=True)
class CredentialConfig:
    """One caller gqlsync admits: its access key and secret (inline or from an environment variable)."""

    access_key_id: str
    secret_access_key: str | None = None
    secret_access_key_env: str | None = None
    account_id: str = ""
    user_arn: str | None = None

    def check(self) -> None:
        if not (self.secret_access_key or self.secret_access_key_env):
            raise ValueError(f"credential {self.access_key_id}: needs secretAccessKey or secretAccessKeyEnv")


@dataclass(frozen=True)
class IamConfig:
    """`region`: the only region signatures may be scoped to (any when absent)."""

    credentials: tuple[dict[str, Any], ...]
    region: str | None = None

    def check(self) -> None:
        if not self.credentials:
            raise ValueError("AWS_IAM needs config.credentials (accessKeyId, secretAccessKey, accountId)")
        for i, c in enumerate(self.credentials):
            parse_config(CredentialConfig, c, f"config.credentials[{i}]")


class IamAuthenticator:
    mode: AuthMode = "AWS_IAM"

    def __init__(self, config: IamConfig) -> None:
        self.region = config.region
        self.credentials: dict[str, IamCredential] = {}
        for i, raw in enumerate(config.credentials):
            c = parse_config(CredentialConfig, raw, f"config.credentials[{i}]")
            secret = c.secret_access_key or os.environ.get(c.secret_access_key_env or "", "")
            arn = c.user_arn or f"arn:aws:iam::{c.account_id or '000000000000'}:user/{c.access_key_id}"
            self.credentials[c.access_key_id] = IamCredential(c.access_key_id, secret, c.account_id, arn,
                                                              arn.rsplit("/", 1)[-1])

    def applies(self, headers: Mapping[str, str]) -> bool:
        return headers.get("authorization", "").startswith(ALGORITHM + " ")

    async def authenticate(self, headers: Mapping[str, str], source_ip: str | None = None,
                           request: RequestFacts | None = None) -> AuthResult:
        m = _AUTH.match(headers.get("authorization", "").strip())
        if m is None:
            raise AuthFailure("The SigV4 Authorization header is malformed.")
        access_key, date, region, service, signed_names, given = m.groups()
        cred = self.credentials.get(access_key)
        if cred is None or not cred.secret_key:
            raise AuthFailure("The security token included in the request is invalid.")
        if service != "appsync" or (self.region and region != self.region):
            raise AuthFailure("Credential should be scoped to the appsync service in this region.")
        amz_date = headers.get("x-amz-date", "")
        try:
            when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise AuthFailure("x-amz-date is missing or malformed.") from None
        if amz_date[:8] != date:
            raise AuthFailure("The credential scope date does not match x-amz-date.")
        if abs((datetime.now(UTC) - when).total_seconds()) > MAX_SKEW_SECONDS:
            raise AuthFailure("Signature expired: the request date is too far from the server time.")
        names = signed_names.split(";")
        if "host" not in names:
            raise AuthFailure("The host header must be signed.")
        signed = {n: headers.get(n, "") for n in names}
        facts = request or RequestFacts("POST", "/graphql", "", b"")
        payload_hash = hashlib.sha256(facts.body).hexdigest()
        expected = signature(facts.method, facts.path, facts.query, signed, payload_hash, cred.secret_key, amz_date,
                             region, service)
        if not hmac.compare_digest(expected, given):
            raise AuthFailure("The request signature we calculated does not match the signature you provided.")
        identity = {"accountId": cred.account_id, "cognitoIdentityPoolId": None, "cognitoIdentityId": None,
                    "sourceIp": [source_ip] if source_ip else [], "username": cred.username, "userArn": cred.user_arn,
                    "cognitoIdentityAuthType": None, "cognitoIdentityAuthProvider": None}
        return AuthResult(self.mode, identity)


@AUTH_MODES.register("AWS_IAM")
def build(config: Mapping[str, Any], auth: AuthConfig, root: Path) -> IamAuthenticator:
    return IamAuthenticator(parse_config(IamConfig, config))
