"""The `gqlsync` command: dev, serve, validate, import-cfn, infra, worker, reindex, lambda serve."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from gqlsync.app import AppError, Problem
from gqlsync.app.loader import MANIFEST_NAMES

if TYPE_CHECKING:
    from gqlsync.app import App
    from gqlsync.engine.api import ApiVersion

cli = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="gqlsync: an AppSync-class GraphQL server. Serve an app folder (gqlsync.yaml).")
err = Console(stderr=True)


def _report(exc: AppError) -> None:
    err.print(f"[bold red]The app cannot be served: {len(exc.problems)} problem(s)[/]")
    for p in exc.problems:
        err.print(f"  {p}", markup=False, highlight=False)


def _tls(app_dir: Path, tls: bool, cert: Path | None, key: Path | None) -> dict[str, str]:
    """uvicorn's TLS options from --tls-cert/--tls-key, or a generated local certificate with --tls."""
    if cert or key:
        if not (cert and key):
            err.print("[red]--tls-cert and --tls-key go together[/]")
            raise typer.Exit(2)
        return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    if not tls:
        return {}
    from gqlsync.http.tls import ensure_local_certificate

    local = ensure_local_certificate(app_dir / ".gqlsync" / "tls")
    err.print(f"  TLS: local certificate; {local.trust_hint()}", highlight=False)
    return {"ssl_certfile": str(local.cert), "ssl_keyfile": str(local.key)}


def _run(app_dir: Path, host: str, port: int, settings: object, log_level: str,
         tls: dict[str, str] | None = None, workers: int = 1) -> None:
    import uvicorn

    from gqlsync.http import ServerSettings, create_app
    from gqlsync.http.listener import uvicorn_options
    from gqlsync.observe import configure_logging

    assert isinstance(settings, ServerSettings)
    configure_logging(log_level)
    try:
        app = create_app(app_dir, settings)
    except AppError as exc:
        _report(exc)
        raise typer.Exit(2) from None
    server = app.state.gqlsync
    key = server.app.auth.api_keys[0].id if server.app.auth.api_keys else None
    scheme = "https" if tls else "http"
    err.print(f"[bold green]gqlsync[/] serving [bold]{server.app.name}[/] on {scheme}://{host}:{port}/graphql "
              f"(realtime: {'wss' if tls else 'ws'}://{host}:{port}/graphql/realtime)")
    if key and settings.dev:
        err.print(f"  API key: {key}   explorer: {scheme}://{host}:{port}/graphql")
    if settings.embedded_dynamodb_dir:
        err.print(f"  DynamoDB: embedded, data in {settings.embedded_dynamodb_dir}")
    elif settings.dynamodb_endpoint:
        err.print(f"  DynamoDB: {settings.dynamodb_endpoint}")
    if server.app.streams:
        where = ("in this process" if settings.streams_dir else
                 "not here: run `gqlsync worker streams` beside this server")
        err.print("  streams: " + ", ".join(f"{r.table} -> index {r.index_name}" for r in server.app.streams)
                  + f" ({where})", highlight=False)
    tls = tls or {}
    target: object = app
    if workers > 1:  # the app above only checked the folder; each worker builds its own (gqlsync/multiprocess.py)
        from gqlsync.multiprocess import FACTORY, WorkerSpec, export

        export(WorkerSpec(app_dir, settings, log_level))
        target = FACTORY
        err.print(f"  workers: {workers} processes on one port, subscriptions shared through Redis")
    uvicorn.run(target, host=host, port=port, log_level="warning", access_log=False, lifespan="on",  # type: ignore[arg-type]
                ssl_certfile=tls.get("ssl_certfile"), ssl_keyfile=tls.get("ssl_keyfile"),
                factory=workers > 1, workers=workers if workers > 1 else None, **uvicorn_options(settings))


KEEPALIVE_HELP = ("Seconds between realtime rounds: a `ka` keep-alive and a websocket ping to each socket; one "
                  "that has not answered the last round's ping is closed.")


@cli.command()
def dev(
    app_dir: Annotated[Path, typer.Argument(help="The app folder (with gqlsync.yaml).")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", envvar="GQLSYNC_PORT")] = 4000,
    dynamodb_endpoint: Annotated[str | None, typer.Option(
        help="Use this DynamoDB (e.g. DynamoDB Local, http://localhost:8000) instead of the embedded one.")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Where the embedded DynamoDB keeps its data (default: APP_DIR/.gqlsync/dynamodb).")] = None,
    search_endpoint: Annotated[str | None, typer.Option(
        help="Send the app's search data sources to this OpenSearch/Elasticsearch cluster instead of the embedded "
             "engine.", envvar="GQLSYNC_SEARCH_ENDPOINT")] = None,
    search_data_dir: Annotated[Path | None, typer.Option(
        help="Where the embedded search engine keeps its indices (default: APP_DIR/.gqlsync/search).")] = None,
    redis_url: Annotated[str | None, typer.Option(
        help="Fan subscriptions out across processes through this Redis (redis://host:6379).",
        envvar="GQLSYNC_REDIS_URL")] = None,
    keepalive_seconds: Annotated[float, typer.Option(help=KEEPALIVE_HELP)] = 60.0,
    region: Annotated[str | None, typer.Option(help="AWS region (default: from the environment).")] = None,
    tls: Annotated[bool, typer.Option(help="Serve HTTPS/WSS with a generated local certificate (Amplify needs wss).")
                   ] = False,
    tls_cert: Annotated[Path | None, typer.Option(help="Serve HTTPS/WSS with this certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="The certificate's private key (PEM).")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
    watch: Annotated[bool, typer.Option(help="Reload the app when a file in its folder changes (a broken edit is "
                                             "reported and the last good version keeps serving).")] = False,
) -> None:
    """Serve an app for development: embedded DynamoDB and search engine kept on disk, tables created from the
    manifest."""
    from gqlsync.http import ServerSettings
    from gqlsync.realtime.connection import RealtimeLimits

    embedded = None if dynamodb_endpoint else (data_dir or app_dir / ".gqlsync" / "dynamodb")
    if embedded is not None and importlib.util.find_spec("moto") is None:
        err.print("The embedded DynamoDB needs moto, which comes with the dev extra: pip install 'gqlsync[dev]' "
                  "(or give --dynamodb-endpoint to use another DynamoDB)", style="red", markup=False)
        raise typer.Exit(2)
    settings = ServerSettings(dynamodb_endpoint=dynamodb_endpoint, embedded_dynamodb_dir=embedded,
                              search_endpoint=search_endpoint,
                              embedded_search_dir=search_data_dir or app_dir / ".gqlsync" / "search",
                              create_tables=True, region=region, dev=True, redis_url=redis_url,
                              realtime=RealtimeLimits(keepalive_seconds=keepalive_seconds),
                              streams_dir=app_dir / ".gqlsync" / "streams", watch=watch, settle_heap=True)
    _run(app_dir, host, port, settings, log_level, _tls(app_dir, tls, tls_cert, tls_key))


@cli.command()
def serve(
    app_dir: Annotated[Path | None, typer.Argument(
        help="The app folder (with gqlsync.yaml). Without it the server is managed: APIs come with `gqlsync "
             "deploy`.")] = None,
    managed: Annotated[bool, typer.Option(
        help="Host many APIs and take deploys at /admin/graphql (implied without APP_DIR; with it, APP_DIR is "
             "deployed as its API's first version if the store has no such API).")] = False,
    state_dir: Annotated[Path | None, typer.Option(
        help="A managed server's state: its control store (SQLite), versions, admin token (default: "
             "~/.gqlsync/server).", envvar="GQLSYNC_STATE_DIR")] = None,
    control_table: Annotated[str | None, typer.Option(
        help="Keep APIs and versions in this DynamoDB table (created if missing), shared by several servers.",
        envvar="GQLSYNC_CONTROL_TABLE")] = None,
    admin_token: Annotated[str | None, typer.Option(
        help="The admin API's token (default: GQLSYNC_ADMIN_TOKEN, else one generated into the state folder).",
        envvar="GQLSYNC_ADMIN_TOKEN")] = None,
    default_api: Annotated[str | None, typer.Option(
        help="The API /graphql serves on a managed server (default: the first one created).")] = None,
    poll_seconds: Annotated[float, typer.Option(help="How often a managed server reads the control store.")] = 1.0,
    admin_iam_credential: Annotated[list[str] | None, typer.Option(
        help="KEY_ID=ENV_VAR: also admit admin requests SigV4-signed (service appsync) by this access key, its "
             "secret in ENV_VAR (repeatable).")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Use the embedded DynamoDB with its data kept in this folder (as `gqlsync dev` does; needs the dev "
             "extra) instead of AWS or --dynamodb-endpoint.")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.", envvar="GQLSYNC_HOST")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="Port to listen on.", envvar="GQLSYNC_PORT")] = 4000,
    dynamodb_endpoint: Annotated[str | None, typer.Option(help="DynamoDB endpoint override.",
                                                          envvar="GQLSYNC_DYNAMODB_ENDPOINT")] = None,
    search_endpoint: Annotated[str | None, typer.Option(
        help="Send every search data source to this OpenSearch/Elasticsearch cluster (default: each one's own "
             "config.endpoint).", envvar="GQLSYNC_SEARCH_ENDPOINT")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region (default: from the environment).")] = None,
    create_tables: Annotated[bool, typer.Option(help="Create the manifest's tables if missing.")] = False,
    streams: Annotated[bool, typer.Option(
        help="Run the app's streams: (tables into search indexes) in this process, checkpoints in "
             "APP_DIR/.gqlsync/streams; without it, run `gqlsync worker streams` beside the server.")] = False,
    redis_url: Annotated[str | None, typer.Option(
        help="Fan subscriptions out across processes through this Redis (redis://host:6379).",
        envvar="GQLSYNC_REDIS_URL")] = None,
    keepalive_seconds: Annotated[float, typer.Option(help=KEEPALIVE_HELP)] = 60.0,
    tls: Annotated[bool, typer.Option(help="Serve HTTPS/WSS with a generated local certificate (Amplify needs wss).")
                   ] = False,
    tls_cert: Annotated[Path | None, typer.Option(help="Serve HTTPS/WSS with this certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="The certificate's private key (PEM).")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
    workers: Annotated[int | None, typer.Option(
        help="Server processes on the port (default: one per core with --redis-url, else 1); more than one needs "
             "--redis-url so that every process's subscribers get every mutation.", envvar="GQLSYNC_WORKERS")] = None,
) -> None:
    """Serve an app for production against real backends (AWS, or the endpoints given)."""
    from gqlsync.http import ServerSettings
    from gqlsync.realtime.connection import RealtimeLimits

    if data_dir is not None and (dynamodb_endpoint or importlib.util.find_spec("moto") is None):
        err.print("--data-dir (the embedded DynamoDB) needs moto from the dev extra (pip install 'gqlsync[dev]'), "
                  "and no --dynamodb-endpoint", style="red", markup=False)
        raise typer.Exit(2)
    if data_dir is not None and control_table:
        err.print("--control-table shares APIs between servers; the embedded DynamoDB (--data-dir) lives in one: "
                  "leave --control-table out (the control store is then a SQLite file in --state-dir)",
                  style="red", markup=False)
        raise typer.Exit(2)
    settings = ServerSettings(dynamodb_endpoint=dynamodb_endpoint, search_endpoint=search_endpoint,
                              embedded_dynamodb_dir=data_dir,
                              create_tables=create_tables, region=region, redis_url=redis_url,
                              realtime=RealtimeLimits(keepalive_seconds=keepalive_seconds),
                              streams_dir=app_dir / ".gqlsync" / "streams" if streams and app_dir else None,
                              streams_poll_seconds=0.25, settle_heap=True)
    from gqlsync.multiprocess import default_workers, refusal

    if app_dir is not None and not managed:
        processes = workers if workers is not None else default_workers(settings)
        why = refusal(settings, processes)
        if why is not None:
            err.print(why, style="red", markup=False, highlight=False)
            raise typer.Exit(2)
        _run(app_dir, host, port, settings, log_level, _tls(app_dir, tls, tls_cert, tls_key), processes)
        return
    if workers is not None and workers > 1:
        err.print("--workers is for serving one app folder; a managed server runs as one process (run several "
                  "servers on one --control-table to scale it out)", style="red", markup=False, highlight=False)
        raise typer.Exit(2)
    from gqlsync.control.tokens import default_state_dir

    state = state_dir or default_state_dir()
    iam = _assignments(admin_iam_credential or [], "--admin-iam-credential", "KEY_ID=ENV_VAR")
    _run_managed(state, host, port, settings, log_level, _tls(state, tls, tls_cert, tls_key), bootstrap=app_dir,
                 control_table=control_table, admin_token=admin_token, default_api=default_api,
                 poll_seconds=poll_seconds, admin_iam=iam)


def _run_managed(state_dir: Path, host: str, port: int, settings: object, log_level: str, tls: dict[str, str],
                 *, bootstrap: Path | None, control_table: str | None, admin_token: str | None,
                 default_api: str | None, poll_seconds: float, admin_iam: dict[str, str]) -> None:
    import uvicorn

    from gqlsync.control.plane import attach
    from gqlsync.control.tokens import register
    from gqlsync.http import GqlsyncServer, ServerSettings, create_app
    from gqlsync.http.listener import uvicorn_options
    from gqlsync.observe import configure_logging

    assert isinstance(settings, ServerSettings)
    configure_logging(log_level)
    server = GqlsyncServer(None, settings)
    try:
        plane = attach(server, state_dir=state_dir, control_table=control_table, admin_token=admin_token,
                       poll_seconds=poll_seconds, default_api=default_api, redis_url=settings.redis_url,
                       bootstrap=bootstrap, region=settings.region or "us-east-1", admin_iam_credentials=admin_iam)
    except ValueError as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    app = create_app(server)
    scheme = "https" if tls else "http"
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"{scheme}://{shown}:{port}"
    if plane.token_file is not None:
        register(url, plane.token_file)
    err.print(f"[bold green]gqlsync[/] managed server on {url}: APIs at {url}/v1/apis/<id>/graphql, the default "
              f"at {url}/graphql; deploy with `gqlsync deploy APP_DIR --server {url} --api NAME`", highlight=False)
    err.print(f"  control store: {('DynamoDB table ' + control_table) if control_table else state_dir / 'control.db'}",
              highlight=False)
    if plane.token_file is not None:
        err.print(f"  admin token: {plane.admin_token} (in {plane.token_file}; the CLI on this machine finds it)",
                  markup=False, highlight=False)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                    ssl_certfile=tls.get("ssl_certfile"), ssl_keyfile=tls.get("ssl_keyfile"),
                    **uvicorn_options(settings))
    except AppError as exc:
        _report(exc)
        raise typer.Exit(2) from None


def _deploy_commands() -> None:
    from gqlsync.control.commands import register

    register(cli)


_deploy_commands()

worker = typer.Typer(no_args_is_help=True, help="Background workers that run beside the servers.")
cli.add_typer(worker, name="worker")

_DDB = Annotated[str | None, typer.Option("--dynamodb-endpoint", help="DynamoDB (and its streams) endpoint override "
                                          "(DynamoDB Local: http://localhost:8000).",
                                          envvar="GQLSYNC_DYNAMODB_ENDPOINT")]
_SEARCH = Annotated[str | None, typer.Option("--search-endpoint", help="Send every search data source to this "
                                             "OpenSearch/Elasticsearch cluster (default: each one's config.endpoint).",
                                             envvar="GQLSYNC_SEARCH_ENDPOINT")]
_STATE = Annotated[Path | None, typer.Option("--state-dir", help="Where checkpoints and dead letters are kept "
                                             "(default: APP_DIR/.gqlsync/streams).")]
_CHECKPOINTS = Annotated[str | None, typer.Option("--checkpoint-table", help="Keep checkpoints in this DynamoDB "
                                                  "table (created if missing), shared by workers on several nodes.",
                                                  envvar="GQLSYNC_CHECKPOINT_TABLE")]
_TABLE = Annotated[str | None, typer.Option("--table", help="Only the streams: entries of this table.")]
_ENABLE = Annotated[bool, typer.Option("--enable-streams", help="Turn on a table's stream (NEW_AND_OLD_IMAGES) "
                                       "where it has none.")]
_REGION = Annotated[str | None, typer.Option(help="AWS region (default: from the environment).")]


def _streams_app(app_dir: Path) -> App:
    from gqlsync.server import check_app

    try:
        app = check_app(app_dir).api.app
    except AppError as exc:
        _report(exc)
        raise typer.Exit(2) from None
    if not app.streams:
        err.print(f"[red]{app.manifest} has no streams: entries (a table feeding a search index)[/]", highlight=False)
        raise typer.Exit(2)
    return app


@worker.command("streams")
def worker_streams(
    app_dir: Annotated[Path, typer.Argument(help="The app folder (with gqlsync.yaml and its streams:).")],
    dynamodb_endpoint: _DDB = None, search_endpoint: _SEARCH = None, region: _REGION = None,
    state_dir: _STATE = None, checkpoint_table: _CHECKPOINTS = None, table: _TABLE = None,
    enable_streams: _ENABLE = False,
    poll_seconds: Annotated[float, typer.Option(help="Seconds between reads of an idle stream.")] = 0.25,
    metrics_port: Annotated[int, typer.Option(help="Serve Prometheus metrics on this port (0: none).")] = 0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Keep the app's search indexes equal to their tables, from the tables' DynamoDB streams, until stopped."""
    import asyncio

    from gqlsync.observe import configure_logging
    from gqlsync.streams.commands import Backends, default_settings, routes_of, run_worker

    configure_logging(log_level)
    app = _streams_app(app_dir)
    try:
        routes = routes_of(app, table)
    except ValueError as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    settings = default_settings(app, state_dir, checkpoint_table, poll_seconds, enable_streams)
    err.print(f"[bold green]gqlsync[/] streams worker for [bold]{app.name}[/]: "
              + ", ".join(f"{r.table} -> {r.index_name}" for r in routes)
              + f"; checkpoints in {checkpoint_table or settings.state_dir}", highlight=False)
    asyncio.run(run_worker(app, Backends(dynamodb_endpoint, search_endpoint, region), settings,
                           metrics_port=metrics_port, table=table))


lambda_cli = typer.Typer(no_args_is_help=True, help="Local Lambda functions behind the Lambda Invoke API.")
cli.add_typer(lambda_cli, name="lambda")


@lambda_cli.command("serve")
def lambda_serve(
    folder: Annotated[Path, typer.Argument(help="Each NAME.py in it with a `handler` function is function NAME.")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9001,
    function: Annotated[list[str] | None, typer.Option("--function", help=(
        "NAME=file.py:function (relative to FOLDER): serve this handler as function NAME. Repeatable."))] = None,
    timeout: Annotated[float, typer.Option(help="Seconds a call may run (then: Sandbox.Timedout).")] = 10.0,
    concurrency: Annotated[int | None, typer.Option(help=(
        "Reserved concurrency of each function: calls beyond it are refused with 429 TooManyRequestsException."))]
        = None,
) -> None:
    """Serve local Python handlers behind AWS Lambda's Invoke API (POST /2015-03-31/functions/NAME/invocations),
    for data sources with `functionArn` and `endpoint: http://HOST:PORT`; GET /_gqlsync/calls counts the calls."""
    import uvicorn

    from gqlsync.lambda_api import LambdaHost

    handlers = _assignments(function or [], "--function", "NAME=file.py:function")
    try:
        hosted = LambdaHost.from_dir(folder, handlers=handlers, timeout=timeout, concurrency=concurrency)
    except ValueError as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    if not hosted.functions:
        err.print(f"[red]{folder} has no NAME.py with a handler function, and no --function was given[/]",
                  highlight=False)
        raise typer.Exit(2)
    err.print(f"[bold green]gqlsync[/] Lambda Invoke API on http://{host}:{port}: "
              + ", ".join(sorted(hosted.functions)), highlight=False)
    uvicorn.run(hosted.app(), host=host, port=port, log_level="warning", access_log=False)


@cli.command()
def reindex(
    app_dir: Annotated[Path, typer.Argument(help="The app folder (with gqlsync.yaml and its streams:).")],
    table: _TABLE = None, dynamodb_endpoint: _DDB = None, search_endpoint: _SEARCH = None,
    region: _REGION = None, state_dir: _STATE = None, checkpoint_table: _CHECKPOINTS = None,
    enable_streams: _ENABLE = False,
    wait_seconds: Annotated[float, typer.Option(help="How long to wait for a running worker to do it.")] = 600.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "warning",
) -> None:
    """Scan tables into their search indexes (documents the table no longer has are removed), then let the
    stream go on from where the scan began: no write missed, none applied twice out of order. A worker that is
    running is asked to do it."""
    import asyncio

    from gqlsync.observe import configure_logging
    from gqlsync.streams.commands import Backends, default_settings, run_reindex

    configure_logging(log_level)
    app = _streams_app(app_dir)
    settings = default_settings(app, state_dir, checkpoint_table, 0.1, enable_streams)
    try:
        done = asyncio.run(run_reindex(app, Backends(dynamodb_endpoint, search_endpoint, region), settings,
                                       table=table, wait_seconds=wait_seconds))
    except (ValueError, TimeoutError) as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(1) from None
    for route, how, items in done:
        err.print(f"[green]reindexed[/] {route}: " + (f"{items} items, {how}" if items is not None else how),
                  highlight=False)


def _check_app(app_dir: Path) -> tuple[App, ApiVersion]:
    """Every check an app must pass to be served: `validate` runs it, and `import-cfn` on what it wrote.

    Loads the app (manifest, schema, files) and builds a version of it (resolvers against the schema,
    mapping code, data-source and auth config); raises AppError listing every problem. Connects to nothing.
    """
    from gqlsync.server import check_app

    api = check_app(app_dir).api
    return api.app, api


@cli.command()
def validate(app_dir: Annotated[Path, typer.Argument(help="The app folder (with gqlsync.yaml).")]) -> None:
    """Check an app (manifest, schema, resolvers, templates) without serving it."""
    try:
        app, api = _check_app(app_dir)
    except AppError as exc:
        _report(exc)
        raise typer.Exit(2) from None
    err.print(f"[green]ok[/] {app.name}: {len(app.resolvers)} resolvers, {len(app.functions)} functions, "
              f"{len(app.data_sources)} data sources, {len(api.schema.type_map)} types")


@cli.command()
def infra(
    app_dir: Annotated[Path, typer.Argument(help="The app folder (with gqlsync.yaml).")],
    out: Annotated[Path | None, typer.Option(help="Write the template here (default: standard output).")] = None,
    format_: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml",
) -> None:
    """Generate the CloudFormation template that runs the app on AWS: ECS Fargate behind an ALB, its DynamoDB
    tables, Redis and an OpenSearch domain when it needs them, the stream-to-search functions, IAM, alarms."""
    from gqlsync.infra import InfraError, plan_app, render, template_for

    if format_ not in ("yaml", "json"):
        err.print(f"[red]--format takes yaml or json, not {escape(format_)!r}[/]", highlight=False)
        raise typer.Exit(2)
    try:
        plan = plan_app(app_dir)
    except AppError as exc:
        _report(exc)
        raise typer.Exit(2) from None
    except InfraError as exc:
        err.print(f"[red]{escape(str(exc))}[/]", highlight=False)
        raise typer.Exit(2) from None
    text = render(template_for(plan), format_)
    if out is None:
        sys.stdout.write(text)
        return
    out.write_text(text)
    parts = [f"{len(plan.tables)} tables", f"{len(plan.routes)} stream-to-search functions"]
    if plan.redis_reasons:
        parts.append("Redis (" + "; ".join(plan.redis_reasons) + ")")
    if plan.needs_search:
        parts.append("an OpenSearch domain")
    err.print(f"[green]wrote[/] {escape(str(out))}: {plan.app.name} on ECS Fargate, " + ", ".join(parts),
              highlight=False)


def _assignments(values: list[str], option: str, form: str) -> dict[str, str]:
    """NAME=VALUE options as a dict (exit 2 naming the option on one without `=`)."""
    out: dict[str, str] = {}
    for v in values:
        name, sep, value = v.partition("=")
        if not sep or not name:
            err.print(f"[red]{option} takes {form}, got {v!r}[/]", highlight=False)
            raise typer.Exit(2)
        out[name] = value
    return out


def _replaceable(out: Path) -> str | None:
    """Why `out` must not be replaced by an imported app, or None when it may be."""
    if not out.exists():
        return None
    if not out.is_dir():
        return f"--out {out} is a file, not an app folder"
    target = out.resolve()
    if target == Path.cwd().resolve() or target in Path.cwd().resolve().parents:
        return f"--out {out} is the current folder or one of its parents; give the app folder itself"
    if any(out.iterdir()) and not any((out / n).is_file() for n in MANIFEST_NAMES):
        return f"--out {out} is a folder with files but no {MANIFEST_NAMES[0]}: not replacing it"
    return None


def _move_into_place(built: Path, out: Path) -> None:
    """Replace `out` by `built` (same folder, so both are renames), keeping the old app's `.gqlsync/` state
    (embedded DynamoDB data, local TLS certificate), which no template describes."""
    if not out.exists():
        built.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.replaced-", dir=out.parent))
    old.rmdir()
    out.rename(old)
    state = old / ".gqlsync"
    try:
        if state.is_dir():
            state.rename(built / ".gqlsync")
        built.rename(out)
    except OSError:
        if (built / ".gqlsync").is_dir() and not state.exists():
            (built / ".gqlsync").rename(state)
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _relative_to(problem: Problem, root: Path) -> Problem:
    """`problem` with its file named inside the app folder (the generated folder is gone once reported)."""
    try:
        rel = Path(problem.file).resolve().relative_to(root.resolve())
    except ValueError:
        return problem
    return Problem(str(rel), problem.line, problem.message, problem.column)


@cli.command("import-cfn")
def import_cfn(
    templates: Annotated[list[Path], typer.Argument(help="CloudFormation templates (root and nested stacks).")],
    out: Annotated[Path, typer.Option(help="The app folder to write (replaced only once the import validates).")],
    assets: Annotated[Path | None, typer.Option(
        help="Where the templates' S3 assets (mapping templates, schema) are, by S3 key or file name.")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key to put in the app (default: a new one).")] = None,
    parameter: Annotated[list[str] | None, typer.Option(
        help="NAME=VALUE: the value of `Ref NAME` (a stack parameter, or a resource known only once deployed, "
             "e.g. a Cognito user pool's id). Repeatable.")] = None,
    lambda_: Annotated[list[str] | None, typer.Option("--lambda", help=(
        "NAME_OR_ARN=path/to/handler.py:function: run this local Python handler (copied into the app's lambdas/) "
        "for the deployed Lambda function a data source, conflict handler or authorizer calls. Repeatable."))] = None,
    iam_credential: Annotated[list[str] | None, typer.Option(help=(
        "ACCESS_KEY_ID=ENV_VAR: an access key the AWS_IAM mode admits, its secret read from the environment "
        "variable ENV_VAR when served. Repeatable."))] = None,
) -> None:
    """Import an AppSync API (AWS::AppSync::*, AWS::DynamoDB::Table) from CloudFormation into an app folder.

    The app is written to a temporary folder next to --out and checked as `gqlsync validate` checks it;
    only an app that passes replaces --out. Otherwise the problems are listed, nothing is written and the
    exit status is 2.
    """
    import secrets

    from gqlsync.app.cloudformation import import_cloudformation

    overrides = _assignments(parameter or [], "--parameter", "NAME=VALUE")
    lambdas = _assignments(lambda_ or [], "--lambda", "NAME_OR_ARN=path/to/handler.py:function")
    iam_credentials = _assignments(iam_credential or [], "--iam-credential", "ACCESS_KEY_ID=ENV_VAR")
    refusal = _replaceable(out)
    if refusal:
        err.print(f"[red]{escape(refusal)}[/]", highlight=False)
        raise typer.Exit(2)
    key = api_key or "da2-" + secrets.token_hex(13)
    dest = out.resolve()  # the real folder (through a symlink, `..`), so the temporary one is its sibling
    parent = dest.parent
    created = [d for d in (parent, *parent.parents) if not d.exists()]
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.import-", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    work.chmod(0o777 & ~umask)  # mkdtemp's 0700 would become the app folder's mode
    try:
        try:
            result = import_cloudformation(list(templates), assets or templates[0].parent, work, api_key=key,
                                           name=dest.name, parameters=overrides, lambdas=lambdas,
                                           iam_credentials=iam_credentials)
            app, api = _check_app(work)
        except AppError as exc:
            err.print("[bold red]import-cfn: the templates do not give a servable app; nothing was written to "
                      f"{escape(str(out))}[/]", highlight=False)
            _report(AppError([_relative_to(p, work) for p in exc.problems]))
            raise typer.Exit(2) from None
        _move_into_place(work, dest)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
            for d in created:  # folders made for --out's parent, deepest first
                try:
                    os.rmdir(d)
                except OSError:
                    break
    for note in result.notes:
        err.print(f"[cyan]note[/] {note}", highlight=False)
    err.print(f"[green]wrote[/] {escape(str(out))}: {result.resolvers} resolvers, {result.functions} functions, "
              f"{result.data_sources} data sources, {result.tables} tables; validated "
              f"({len(api.schema.type_map)} types, auth {', '.join(app.auth.modes)})"
              + (f" (API key {result.api_key})" if result.api_key else ""), highlight=False)


def main() -> None:
    sys.exit(cli())


if __name__ == "__main__":
    main()
