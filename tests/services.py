"""Real services the tests start themselves: DynamoDB Local (the jar from npm, run with Java)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


def children(pid: int) -> list[int]:
    """The live (not zombie) child processes of `pid`, from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry.name))
    return sorted(out)


def dynamodb_local_dir() -> Path:
    env = os.environ.get("GQLSYNC_DYNAMODB_LOCAL_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT / "tests/node/node_modules/amplify-dynamodb-simulator/emulator")
    for c in candidates:
        if (c / "DynamoDBLocal.jar").is_file():
            return c
    raise FileNotFoundError(
        "DynamoDB Local is not installed. Run the tests with `bash tests/run.sh`, which installs it "
        "(npm package amplify-dynamodb-simulator into tests/node) and Java if missing.")


class DynamoDBLocal:
    """The real DynamoDB Local jar on a free loopback port, in memory, one shared database."""

    def __init__(self, db_path: Path | None = None) -> None:
        self.dir = dynamodb_local_dir()
        self.port = free_port()
        self.db_path = db_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DynamoDBLocal:
        java = shutil.which("java")
        if java is None:
            raise FileNotFoundError("java is not installed (tests/run.sh installs it)")
        storage = ["-dbPath", str(self.db_path)] if self.db_path else ["-inMemory"]
        self.proc = subprocess.Popen(
            [java, "-Xmx512m", "-Djava.library.path=./DynamoDBLocal_lib", "-jar", "DynamoDBLocal.jar",
             "-port", str(self.port), *storage, "-sharedDb"],
            cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(self.port, 60, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None

    def restart(self) -> None:
        """Start again on the same port (data survives only with a db_path)."""
        self.stop()
        self.start()


class RedisServer:
    """Debian's redis-server on a free loopback port, no persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        exe = shutil.which("redis-server")
        if exe is None:
            raise FileNotFoundError("redis-server is not installed (tests/run.sh installs it with apt)")
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--protected-mode", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(self.port, 20, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


class JwksServer:
    """A real HTTP server (thread, loopback) publishing a JSON Web Key Set that tests can rotate."""

    def __init__(self) -> None:
        import json as _json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.jwks: dict[str, object] = {"keys": []}
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                if self.path.endswith("/.well-known/jwks.json") or self.path.endswith("/openid-configuration"):
                    doc = outer.jwks
                    if self.path.endswith("/openid-configuration"):
                        issuer = f"http://127.0.0.1:{outer.port}" + self.path.split("/.well-known")[0]
                        doc = {"issuer": issuer, "jwks_uri": f"{issuer}/.well-known/jwks.json"}
                    body = _json.dumps(doc).encode()
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_response(404)
                    self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}/us-east-1_TestPool"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class CognitoPool:
    """A stand-in Cognito user pool: a JWKS server (its issuer ends in the pool id) and the RS256 key that signs
    the pool's id tokens."""

    pool_id = "us-east-1_TestPool"

    def __init__(self) -> None:
        import json as _json

        from cryptography.hazmat.primitives.asymmetric import rsa
        from jwt.algorithms import RSAAlgorithm

        self.server = JwksServer()
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = _json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        self.server.jwks = {"keys": [{**jwk, "kid": "pool-key-1", "alg": "RS256"}]}

    @property
    def issuer(self) -> str:
        return self.server.issuer

    def id_token(self, username: str, *, client: str = "web-1", groups: tuple[str, ...] = (),
                 **claims: object) -> str:
        """An id token for `username` (sub `sub-USERNAME`), issued to `client`, in `groups`."""
        import jwt

        now = int(time.time())
        body: dict[str, object] = {"sub": f"sub-{username}", "iss": self.issuer, "aud": client, "token_use": "id",
                                   "cognito:username": username, "iat": now, "exp": now + 600, "auth_time": now}
        if groups:
            body["cognito:groups"] = list(groups)
        body.update(claims)
        return jwt.encode(body, self.private, algorithm="RS256", headers={"kid": "pool-key-1"})

    def stop(self) -> None:
        self.server.stop()
