"""JWT (Cognito user pool, verified against a JWKS) vs API key: getEvent req/s side by side, as a ratio.

The Event app is copied with both modes allowed on every type (`@aws_api_key @aws_cognito_user_pools`),
Cognito pointed at a local JWKS server; the same getEvent is driven with each credential in
interleaved rounds. Usage: python bench/auth.py (env BENCH_SECONDS, BENCH_ROUNDS, BENCH_CLIENTS).
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jwt
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import CONCURRENCY, KEY, ROUNDS, SECONDS, gql, start, wrk  # noqa: E402
from tests.services import DynamoDBLocal, JwksServer, free_port  # noqa: E402


def app_with_cognito(dst: Path, issuer: str) -> Path:
    shutil.copytree(ROOT / "examples/event-app", dst, ignore=shutil.ignore_patterns(".gqlsync"))
    sdl = (dst / "schema.graphql").read_text()
    sdl = re.sub(r"^type (\w+) \{", r"type \1 @aws_api_key @aws_cognito_user_pools {", sdl, flags=re.M)
    (dst / "schema.graphql").write_text(sdl)
    manifest = yaml.safe_load((dst / "gqlsync.yaml").read_text())
    manifest["auth"]["additional"] = [{"mode": "AMAZON_COGNITO_USER_POOLS", "config": {
        "userPoolId": "us-east-1_Bench", "issuer": issuer, "appIdClientRegex": "^bench-client$"}}]
    (dst / "gqlsync.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return dst


def main() -> None:
    jwks = JwksServer()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks.jwks = {"keys": [{**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "k1", "alg": "RS256",
                           "use": "sig"}]}
    now = int(time.time())
    token = jwt.encode({"sub": "u", "iss": jwks.issuer, "aud": "bench-client", "token_use": "id",
                        "cognito:username": "bench", "iat": now, "exp": now + 7200}, key, algorithm="RS256",
                       headers={"kid": "k1"})
    ddb = DynamoDBLocal().start()
    tmp = Path(tempfile.mkdtemp())
    app = app_with_cognito(tmp / "event-app", jwks.issuer)
    port = free_port()
    proc = start([sys.executable, "-m", "gqlsync.cli", "serve", str(app), "--host", "127.0.0.1", "--port", str(port),
                  "--dynamodb-endpoint", ddb.endpoint, "--create-tables", "--log-level", "info"], port)
    try:
        url = f"http://127.0.0.1:{port}/graphql"
        event_id = gql(url, 'mutation { createEvent(name: "a", when: "w", where: "x", description: "d") { id } }'
                       )["data"]["createEvent"]["id"]
        body = {"query": "query($id: ID!) { getEvent(id: $id) { id name where when description } }",
                "variables": {"id": event_id}}
        import httpx

        r = httpx.post(url, json=body, headers={"authorization": token}).json()
        assert "errors" not in r, r
        lines = ["| clients | API key req/s | JWT req/s | JWT ÷ API key | API key p99 ms | JWT p99 ms |",
                 "|---:|---:|---:|---:|---:|---:|"]
        for clients in CONCURRENCY:
            wrk(url, body, clients, 2)
            keyed, jwted = [], []
            for _ in range(ROUNDS):
                keyed.append(wrk(url, body, clients, SECONDS))
                jwted.append(wrk(url, body, clients, SECONDS, auth=token))
            k = statistics.median(x["rps"] for x in keyed)
            j = statistics.median(x["rps"] for x in jwted)
            lines.append(f"| {clients} | {k:.0f} | {j:.0f} | {j / k:.2f} | "
                         f"{statistics.median(x['p99_ms'] for x in keyed):.1f} | "
                         f"{statistics.median(x['p99_ms'] for x in jwted):.1f} |")
        text = "# gqlsync auth benchmark: getEvent with a Cognito JWT vs an API key\n\n" + "\n".join(lines) + "\n"
        print(text)
        (ROOT / "bench/results").mkdir(exist_ok=True)
        (ROOT / f"bench/results/auth-{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(text)
        _ = KEY
    finally:
        proc.terminate()
        proc.wait(10)
        ddb.stop()
        jwks.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
