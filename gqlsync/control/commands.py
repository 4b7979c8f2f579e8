"""`gqlsync deploy | versions | rollback | promote | diff`: the admin API from the command line."""

from __future__ import annotations

import getpass
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from gqlsync.app import AppError
from gqlsync.control.bundle import Bundle, BundleError, bundle_for
from gqlsync.control.tokens import ENV, find_token

err = Console(stderr=True)
out = Console()

API_FIELDS = ("id name graphqlEndpoint realtimeEndpoint currentVersion status revision servingHere "
              "canary { version weight startedAt maxErrorRate windowSeconds minRequests requests errors } "
              "versions { number checksum author message createdAt size }")
DIFF_FIELDS = "breaking { kind description } dangerous { kind description } text"


class AdminError(Exception):
    pass


class AdminClient:
    """GraphQL over HTTP to a server's /admin/graphql with its token."""

    def __init__(self, server: str, token: str | None, sigv4: bool = False) -> None:
        self.server = server.rstrip("/")
        self.sigv4 = None
        self.token = ""
        if sigv4:
            import botocore.session

            creds = botocore.session.get_session().get_credentials()
            if creds is None:
                raise AdminError("--sigv4 needs AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a "
                                 "profile...)")
            frozen = creds.get_frozen_credentials()
            from gqlsync.sigv4 import Credentials

            self.sigv4 = Credentials(frozen.access_key, frozen.secret_key, frozen.token)
            return
        found = find_token(self.server, token)
        if not found:
            raise AdminError(f"no admin token for {self.server}: give --admin-token or set {ENV} (a server on this "
                             "machine that generated its own is found by itself), or sign with --sigv4")
        self.token = found

    def call(self, query: str, variables: dict[str, Any] | None = None, *, progress: bool = False) -> Any:
        import orjson

        body = orjson.dumps({"query": query, "variables": variables or {}})
        headers = {"content-type": "application/json"}
        if self.sigv4 is not None:
            import os

            from gqlsync.sigv4 import sign

            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
            headers = sign("POST", self.server + "/admin/graphql", headers, body, self.sigv4, region, "appsync")
        else:
            headers["authorization"] = f"Bearer {self.token}"
        try:
            if progress and len(body) > 64 * 1024:
                with Progress("uploading", BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=err,
                              transient=True) as bar:
                    task = bar.add_task("upload", total=len(body))

                    def chunks() -> Any:
                        for i in range(0, len(body), 64 * 1024):
                            bar.update(task, advance=min(64 * 1024, len(body) - i))
                            yield body[i:i + 64 * 1024]

                    headers["content-length"] = str(len(body))
                    r = httpx.post(self.server + "/admin/graphql", content=chunks(), headers=headers, timeout=120)
            else:
                r = httpx.post(self.server + "/admin/graphql", content=body, headers=headers, timeout=120)
        except httpx.HTTPError as exc:
            raise AdminError(f"cannot reach {self.server}: {exc}") from None
        if r.status_code == 401:
            what = "SigV4 signature" if self.sigv4 is not None else "admin token"
            detail = ""
            try:
                detail = ": " + str(r.json()["errors"][0]["message"])
            except (ValueError, KeyError, IndexError, TypeError):
                pass
            raise AdminError(f"{self.server} refused the {what} (HTTP 401){detail}")
        try:
            answer = r.json()
        except ValueError:
            raise AdminError(f"{self.server}/admin/graphql answered HTTP {r.status_code}: {r.text[:200]}") from None
        if answer.get("errors"):
            raise AdminError("; ".join(str(e.get("message")) for e in answer["errors"]))
        return answer["data"]


def _client(server: str, token: str | None, sigv4: bool = False) -> AdminClient:
    try:
        return AdminClient(server, token, sigv4)
    except AdminError as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2) from None


def _call(client: AdminClient, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
    try:
        return client.call(query, variables, **kw)
    except AdminError as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(1) from None


def _print_diff(diff: dict[str, Any]) -> None:
    for change in diff["breaking"]:
        err.print(f"  [bold red]BREAKING[/] {escape(change['kind'])}: {escape(change['description'])}")
    for change in diff["dangerous"]:
        err.print(f"  [yellow]dangerous[/] {escape(change['kind'])}: {escape(change['description'])}")
    if diff["text"]:
        for line in diff["text"].splitlines():
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
            err.print(f"[{style}]{escape(line)}[/]", highlight=False)


def _check_locally(bundle: Bundle) -> None:
    """Load and build the app here first, so a broken one is refused with file, line and reason before upload."""
    from gqlsync.server import check_app

    folder = Path(tempfile.mkdtemp(prefix="gqlsync-deploy-"))
    try:
        bundle.write(folder / "app")
        try:
            check_app(folder / "app")
        except AppError as exc:
            err.print(f"[bold red]Not deployed: {len(exc.problems)} problem(s)[/]")
            for p in exc.problems:
                try:
                    p = p.__class__(str(Path(p.file).relative_to(folder / "app")), p.line, p.message, p.column)
                except ValueError:
                    pass
                err.print(f"  {p}", markup=False, highlight=False)
            raise typer.Exit(2) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_SERVER = Annotated[str, typer.Option("--server", help="The managed server.", envvar="GQLSYNC_SERVER")]
_TOKEN = Annotated[str | None, typer.Option("--admin-token", help=f"The admin token (default: {ENV}, or the one a "
                                                                 "server on this machine wrote).")]
_API = Annotated[str, typer.Option("--api", help="The API's name.")]
_SIGV4 = Annotated[bool, typer.Option("--sigv4", help="Sign with your AWS credentials (a server started with "
                                                      "--admin-iam-credential) instead of the admin token.")]
DEFAULT_SERVER = "http://127.0.0.1:4000"


def deploy(
    source: Annotated[Path, typer.Argument(help="An app folder, its gqlsync.yaml, a bare schema.graphql (on top of "
                                                "the API's current version) or a CloudFormation template.")],
    api: _API, server: _SERVER = DEFAULT_SERVER, admin_token: _TOKEN = None, sigv4: _SIGV4 = False,
    message: Annotated[str, typer.Option(help="What this version changes.")] = "",
    dry_run: Annotated[bool, typer.Option(help="Check and diff against the serving version; deploy nothing.")] = False,
    canary: Annotated[float | None, typer.Option(help="Serve the new version to this percent of requests first.")
                      ] = None,
    canary_max_error_rate: Annotated[float, typer.Option(help="Roll the canary back by itself past this error "
                                                               "rate (0-1).")] = 0.05,
    canary_window: Annotated[float, typer.Option(help="Seconds the canary's error rate is measured over.")] = 60.0,
    canary_min_requests: Annotated[int, typer.Option(help="Requests in the window before the rate counts.")] = 20,
    allow_breaking: Annotated[bool, typer.Option(help="Deploy even with breaking schema changes.")] = False,
) -> None:
    """Deploy a new version of an API: checked here, uploaded, checked again and swapped in by the server."""
    client = _client(server, admin_token, sigv4)
    current = None
    if source.suffix in (".graphql", ".gql") and not any((source.parent / n).is_file()
                                                        for n in ("gqlsync.yaml", "gqlsync.yml")):
        files = _call(client, "query($a: String!) { files(api: $a) }", {"a": api})["files"]
        current = Bundle.from_json(files) if files else None
    try:
        bundle, how = bundle_for(source, current=current)
    except AppError as exc:
        err.print(f"[bold red]Not deployed: {len(exc.problems)} problem(s)[/]")
        for p in exc.problems:
            err.print(f"  {p}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    except BundleError as exc:
        err.print(f"[red]Not deployed: {escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    err.print(f"deploying {how}: {len(bundle.files)} files, {bundle.size} bytes, {bundle.checksum[:19]}",
              highlight=False)
    _check_locally(bundle)
    data = _call(client, f"""mutation($api: String!, $files: JSON!, $m: String!, $au: String!, $c: Float,
        $r: Float!, $w: Float!, $n: Int!, $d: Boolean!, $b: Boolean!) {{
      deploy(api: $api, files: $files, message: $m, author: $au, canary: $c, canaryMaxErrorRate: $r,
             canaryWindowSeconds: $w, canaryMinRequests: $n, dryRun: $d, allowBreaking: $b) {{
        refused dryRun problems {{ file line column reason }} diff {{ {DIFF_FIELDS} }}
        version {{ number checksum }} api {{ {API_FIELDS} }} canary {{ version weight }} }} }}""",
                 {"api": api, "files": bundle.to_json(), "m": message, "au": _author(), "c": canary,
                  "r": canary_max_error_rate, "w": canary_window, "n": canary_min_requests, "d": dry_run,
                  "b": allow_breaking}, progress=True)["deploy"]
    _print_diff(data["diff"])
    if data["problems"]:
        err.print(f"[bold red]Not deployed: {len(data['problems'])} problem(s)[/]")
        for p in data["problems"]:
            where = ":".join(str(x) for x in (p["file"], p["line"], p["column"]) if x is not None)
            err.print(f"  {where}: {p['reason']}", markup=False, highlight=False)
        raise typer.Exit(2)
    if data["refused"]:
        err.print(f"[bold red]Not deployed:[/] {escape(data['refused'])}")
        raise typer.Exit(2)
    if data["dryRun"]:
        err.print("[green]dry run:[/] the app checks out; nothing was deployed")
        return
    version, info = data["version"], data["api"]
    what = (f"canary at {data['canary']['weight']:g}% (current stays {info['currentVersion']})" if data["canary"]
            else "serving")
    err.print(f"[bold green]deployed[/] {escape(api)} version {version['number']} — {what}", highlight=False)
    err.print(f"  {client.server}{info['graphqlEndpoint']}\n  {client.server.replace('http', 'ws', 1)}"
              f"{info['realtimeEndpoint']}", highlight=False)


def _author() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def versions(api: _API, server: _SERVER = DEFAULT_SERVER, admin_token: _TOKEN = None, sigv4: _SIGV4 = False) -> None:
    """List an API's versions and what it serves."""
    client = _client(server, admin_token, sigv4)
    info = _call(client, f"query($a: String!) {{ api(name: $a) {{ {API_FIELDS} }} }}", {"a": api})["api"]
    if info is None:
        err.print(f"[red]no API named {escape(api)} on {client.server}[/]")
        raise typer.Exit(1)
    table = Table(title=f"{info['name']} ({info['id']})")
    for col in ("version", "serving", "created", "author", "message", "checksum"):
        table.add_column(col)
    canary = info["canary"] or {}
    for v in info["versions"]:
        serving = ("current" if v["number"] == info["currentVersion"] else
                   f"canary {canary['weight']:g}%" if v["number"] == canary.get("version") else "")
        created = datetime.fromtimestamp(v["createdAt"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(v["number"]), serving, created, v["author"], v["message"], v["checksum"][7:19])
    out.print(table)
    if info["status"]:
        out.print(f"last change: {info['status']}", highlight=False)
    if canary:
        out.print(f"canary {canary['version']}: {canary['requests']} requests, {canary['errors']} errors over "
                  f"{canary['windowSeconds']:g} s (rolls back past {canary['maxErrorRate']:.0%})", highlight=False)


def rollback(api: _API, server: _SERVER = DEFAULT_SERVER, admin_token: _TOKEN = None, sigv4: _SIGV4 = False,
             to: Annotated[int | None, typer.Option(help="The version to serve (default: end the canary, or the "
                                                         "version before the current one).")] = None) -> None:
    """Serve an earlier version again (or end a canary)."""
    client = _client(server, admin_token, sigv4)
    info = _call(client, f"mutation($a: String!, $t: Int) {{ rollback(api: $a, to: $t) {{ {API_FIELDS} }} }}",
                 {"a": api, "t": to})["rollback"]
    err.print(f"[bold green]{escape(info['status'])}[/]: {escape(api)} serves version {info['currentVersion']}",
              highlight=False)


def promote(api: _API, server: _SERVER = DEFAULT_SERVER, admin_token: _TOKEN = None, sigv4: _SIGV4 = False) -> None:
    """Make the canary the current version."""
    client = _client(server, admin_token, sigv4)
    info = _call(client, f"mutation($a: String!) {{ promote(api: $a) {{ {API_FIELDS} }} }}", {"a": api})["promote"]
    err.print(f"[bold green]{escape(info['status'])}[/]: {escape(api)} serves version {info['currentVersion']}",
              highlight=False)


def diff(base: Annotated[int, typer.Argument(help="A version number.")],
         head: Annotated[int, typer.Argument(help="Another version number.")],
         api: _API, server: _SERVER = DEFAULT_SERVER, admin_token: _TOKEN = None, sigv4: _SIGV4 = False) -> None:
    """The schema change from one version of an API to another, breaking and dangerous changes flagged."""
    client = _client(server, admin_token, sigv4)
    data = _call(client, f"query($a: String!, $b: Int!, $h: Int!) {{ diff(api: $a, base: $b, head: $h) "
                         f"{{ {DIFF_FIELDS} }} }}", {"a": api, "b": base, "h": head})["diff"]
    if not (data["breaking"] or data["dangerous"] or data["text"]):
        err.print("no schema change")
    _print_diff(data)


api_key = typer.Typer(no_args_is_help=True, help="API keys every version of an API accepts.")


@api_key.command("create")
def api_key_create(api: _API, server: _SERVER = DEFAULT_SERVER, admin_token: _TOKEN = None, sigv4: _SIGV4 = False,
                   description: Annotated[str, typer.Option(help="What the key is for.")] = "",
                   expires_days: Annotated[float, typer.Option(help="Days until it expires (0: never).")] = 365.0
                   ) -> None:
    """Make a new API key (printed once on stdout)."""
    client = _client(server, admin_token, sigv4)
    key = _call(client, "mutation($a: String!, $d: String!, $e: Float) { createApiKey(api: $a, description: $d, "
                        "expiresDays: $e) { id expires } }",
                {"a": api, "d": description, "e": expires_days or None})["createApiKey"]
    out.print(key["id"], highlight=False)
    when = (datetime.fromtimestamp(key["expires"], UTC).strftime("%Y-%m-%d") if key["expires"] else "never")
    err.print(f"API key for {escape(api)}, expires {when}", highlight=False)


@api_key.command("list")
def api_key_list(api: _API, server: _SERVER = DEFAULT_SERVER, admin_token: _TOKEN = None,
                 sigv4: _SIGV4 = False) -> None:
    """The API keys made through the admin API."""
    client = _client(server, admin_token, sigv4)
    info = _call(client, "query($a: String!) { api(name: $a) { apiKeys { id description expires } } }",
                 {"a": api})["api"]
    if info is None:
        err.print(f"[red]no API named {escape(api)}[/]")
        raise typer.Exit(1)
    for k in info["apiKeys"]:
        when = datetime.fromtimestamp(k["expires"], UTC).strftime("%Y-%m-%d") if k["expires"] else "never"
        out.print(f"{k['id']}  expires {when}  {k['description']}", highlight=False)


@api_key.command("delete")
def api_key_delete(key: Annotated[str, typer.Argument(help="The key.")], api: _API, server: _SERVER = DEFAULT_SERVER,
                   admin_token: _TOKEN = None, sigv4: _SIGV4 = False) -> None:
    """Delete an API key: every node refuses it within a poll."""
    client = _client(server, admin_token, sigv4)
    _call(client, "mutation($a: String!, $k: String!) { deleteApiKey(api: $a, id: $k) }", {"a": api, "k": key})
    err.print(f"deleted {escape(key)}", highlight=False)


def register(cli: typer.Typer) -> None:
    for fn in (deploy, versions, rollback, promote, diff):
        cli.command()(fn)
    cli.add_typer(api_key, name="api-key")
