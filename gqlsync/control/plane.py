"""The control plane of a managed server: deploy, roll back, promote, canaries, and keeping every node in step.

A deploy is checked completely (the bundle loaded and built as a version would be, its schema compared with the
one serving) before anything is stored; then the version is stored (immutable, numbered) and the API's routing
moved to it with a compare-and-set, and every node — this one at once, others within a poll — builds it from the
store and swaps it in. A canary serves a share of requests beside the current version until promoted or rolled
back, by hand or by itself when its error rate over a window passes a threshold.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import difflib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graphql import GraphQLSchema, find_breaking_changes, find_dangerous_changes

from gqlsync.app import AppError, Problem, load_app
from gqlsync.app.model import ApiKey, App
from gqlsync.background import cancel_all
from gqlsync.control.bundle import Bundle
from gqlsync.control.store import (
    ApiRecord,
    Canary,
    ControlStore,
    Routing,
    StoreConflictError,
    StoredApiKey,
    VersionRecord,
    new_api_id,
)

log = logging.getLogger("gqlsync.control")


@dataclass(frozen=True)
class Change:
    kind: str
    description: str


@dataclass(frozen=True)
class SchemaDiff:
    breaking: tuple[Change, ...] = ()
    dangerous: tuple[Change, ...] = ()
    #: the SDL as a unified diff
    text: str = ""


@dataclass
class DeployResult:
    api: ApiRecord | None
    version: VersionRecord | None = None
    diff: SchemaDiff = field(default_factory=SchemaDiff)
    problems: list[Problem] = field(default_factory=list)
    dry_run: bool = False
    canary: Canary | None = None
    #: why nothing was deployed (problems, breaking changes refused), or None
    refused: str | None = None


@dataclass(frozen=True)
class CanaryOptions:
    weight: float
    max_error_rate: float = 0.05
    window_seconds: float = 60.0
    min_requests: int = 20


class DeployError(Exception):
    """A control-plane request that cannot be done (no such API or version, nothing to promote...)."""


def schema_diff(old: GraphQLSchema | None, new: GraphQLSchema, old_sdl: str, new_sdl: str) -> SchemaDiff:
    if old is None:
        return SchemaDiff()  # the first version: nothing to compare with
    text = "".join(difflib.unified_diff(old_sdl.splitlines(keepends=True), new_sdl.splitlines(keepends=True),
                                        "serving", "new", n=2))
    return SchemaDiff(tuple(Change(c.type.name, c.description) for c in find_breaking_changes(old, new)),
                      tuple(Change(c.type.name, c.description) for c in find_dangerous_changes(old, new)), text)


def _relative(problem: Problem, root: Path) -> Problem:
    try:
        return dataclasses.replace(problem, file=str(Path(problem.file).relative_to(root)))
    except ValueError:
        return problem


class ControlPlane:
    """Owns one server's view of the store: which version of each API it serves, and the deploy operations."""

    def __init__(self, server: Any, store: ControlStore, state_dir: Path, *, poll_seconds: float = 1.0,
                 default_api: str | None = None) -> None:
        self.server = server
        self.store = store
        self.state_dir = Path(state_dir)
        self.poll_seconds = poll_seconds
        self.default_api = default_api
        self._applied: dict[str, int] = {}
        self._keys: dict[str, tuple[StoredApiKey, ...]] = {}
        #: versions a deploy on this node built while checking them, taken by the next install of that version
        self._built: dict[tuple[str, int], Any] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self.redis_url: str | None = None
        #: what /admin/graphql requires (`Authorization: Bearer <token>`)
        self.admin_token = ""
        #: an app folder deployed as its API's first version when the store has no such API yet
        self.bootstrap: Path | None = None
        #: where the generated admin token is (None when it was given)
        self.token_file: Path | None = None
        #: SigV4 signatures by these IAM access keys are admitted too (an IamAuthenticator), when given
        self.admin_iam: Any = None

    # -- lifecycle
    async def load(self) -> None:
        """Install what the store says each API serves (and the bootstrap app, if the store lacks it)."""
        await self.sync()
        if self.bootstrap is not None:
            await self._bootstrap(self.bootstrap)

    async def run(self) -> None:
        """Follow the store from now on (polling, Redis notices) and watch canaries."""
        self._tasks.append(asyncio.create_task(self._poll(), name="gqlsync-control-poll"))
        self._tasks.append(asyncio.create_task(self._watch_canaries(), name="gqlsync-canary-monitor"))
        if self.redis_url:
            self._tasks.append(asyncio.create_task(self._listen(self.redis_url), name="gqlsync-control-notices"))

    async def _bootstrap(self, folder: Path) -> None:
        app = await asyncio.to_thread(load_app, folder)
        if await self.store.api(app.name) is not None:
            return
        result = await self.deploy(app.name, await asyncio.to_thread(Bundle.from_folder, folder),
                                   author="gqlsync serve", message=f"first version, from {folder}")
        if result.refused:
            raise AppError(result.problems or [Problem(str(folder), None, result.refused)])
        self.default_api = self.default_api or app.name

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        await self.store.close()

    async def _poll(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()
            try:
                await self.sync()
            except Exception as exc:  # the store is down: keep serving what is installed, try again
                log.warning("control store unreachable; serving the installed versions", extra={"reason": repr(exc)})

    async def _listen(self, url: str) -> None:
        """A Redis notice wakes the poll at once (a deploy on another node serves here in milliseconds)."""
        import redis.asyncio as aioredis

        while True:
            try:
                client = aioredis.from_url(url)
                pubsub = client.pubsub()
                await pubsub.subscribe("gqlsync:control")
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("control notices: Redis unreachable, polling only", extra={"reason": repr(exc)})
                await asyncio.sleep(2)

    async def _notify(self) -> None:
        if not self.redis_url:
            return
        import redis.asyncio as aioredis

        try:
            client = aioredis.from_url(self.redis_url)
            await client.publish("gqlsync:control", "changed")
            await client.aclose()
        except Exception as exc:
            log.warning("control notice not sent (other nodes pick the change up by polling)",
                        extra={"reason": repr(exc)})

    # -- keeping this node in step with the store
    async def sync(self) -> None:
        routings = await self.store.routings()
        for api_id, routing in routings.items():
            if self._applied.get(api_id, -1) < routing.revision:
                await self._apply(api_id, routing)
        if self.server.api_id is None or self.default_api:
            wanted = await self._default_id()
            if wanted is not None and self.server.apis.get(wanted) is not None:
                self.server.api_id = wanted

    async def _default_id(self) -> str | None:
        if self.default_api:
            record = await self.store.api(self.default_api)
            return record.id if record else None
        apis = [a for a in await self.store.apis() if self.server.apis.get(a.id) is not None]
        return apis[0].id if apis else None

    def _folder(self, api_id: str, checksum: str) -> Path:
        """Where a version's files are written out on this node: by content, so the folder a deploy is checked in
        is the one it serves from (and versions with the same files share one)."""
        return self.state_dir / "apis" / api_id / checksum.removeprefix("sha256:")[:24]

    async def _written(self, api_id: str, bundle: Bundle) -> tuple[Path, bool]:
        """The bundle's folder, written once; True when this call wrote it."""
        folder = self._folder(api_id, bundle.checksum)
        if (folder / ".complete").exists():
            return folder, False
        await asyncio.to_thread(bundle.write, folder)
        (folder / ".complete").write_text(bundle.checksum)
        return folder, True

    async def _app(self, record: ApiRecord, number: int, routing: Routing | None = None) -> App:
        """Version `number` as this node serves it: its files written out once, loaded, named for the API, with
        the API keys made through the admin API beside its manifest's."""
        checksum = next((v.checksum for v in await self.store.versions(record.id) if v.number == number), None)
        folder = self._folder(record.id, checksum) if checksum else None
        if folder is None or not (folder / ".complete").exists():
            folder, _ = await self._written(record.id, await self.store.bundle(record.id, number))
        app = await asyncio.to_thread(load_app, folder)
        app = dataclasses.replace(app, name=record.name)
        if routing is not None and routing.api_keys:
            extra = tuple(ApiKey(k.id, datetime.fromtimestamp(k.expires, UTC) if k.expires else None,
                                 k.description) for k in routing.api_keys)
            known = {k.id for k in app.auth.api_keys}
            app = dataclasses.replace(app, auth=dataclasses.replace(
                app.auth, api_keys=(*app.auth.api_keys, *(k for k in extra if k.id not in known))))
        return app

    async def _apply(self, api_id: str, routing: Routing) -> None:
        async with self._lock:
            if self._applied.get(api_id, -1) >= routing.revision:
                return  # this change, or a later one (concurrent deploys), is what this node serves already
            record = await self.store.api(api_id)
            if record is None or routing.current is None:
                return
            server = self.server
            keys_changed = self._keys.get(api_id) != routing.api_keys
            try:
                served = server.apis.get(api_id)
                if served is None or served.version != str(routing.current) or keys_changed:
                    await server.install(await self._app(record, routing.current, routing), api_id=api_id,
                                         version=str(routing.current),
                                         prebuilt=self._prebuilt(api_id, routing.current, routing))
                canary = routing.canary
                live = server.apis.canary(api_id)
                if canary is None:
                    server.end_canary(api_id)
                elif live is None or live[0].version != str(canary.version) or keys_changed:
                    await server.install(await self._app(record, canary.version, routing), api_id=api_id,
                                         version=str(canary.version), canary_weight=canary.weight,
                                         prebuilt=self._prebuilt(api_id, canary.version, routing))
                elif live[1] != canary.weight:
                    server.apis.set_canary(api_id, live[0], canary.weight)
            except AppError as exc:  # a stored version that does not build here (a missing handler file...)
                log.error("a stored version could not be served here; keeping the installed one",
                          extra={"api": record.name, "revision": routing.revision,
                                 "problems": [str(p) for p in exc.problems]})
            self._applied[api_id] = routing.revision
            self._keys[api_id] = routing.api_keys
            log.info("serving", extra={"api": record.name, "version": routing.current,
                                       "canary": dataclasses.asdict(routing.canary) if routing.canary else None,
                                       "revision": routing.revision})

    def _prebuilt(self, api_id: str, number: int, routing: Routing) -> Any:
        """The version as a deploy here already built it, if its API keys are the manifest's alone."""
        built = self._built.pop((api_id, number), None)
        return built if built is not None and not routing.api_keys else None

    # -- operations (the admin API calls these)
    async def api(self, name: str) -> ApiRecord:
        record = await self.store.api(name)
        if record is None:
            raise DeployError(f"no API named {name!r} on this server")
        return record

    async def _check(self, record: ApiRecord | None, name: str, bundle: Bundle) -> tuple[Any, list[Problem]]:
        """Build the bundle as a version would be: for an API that exists, in the folder it will serve from and
        labelled with the number it will most likely get (so a deploy builds once); for a new one, in a scratch
        folder. The version or the problems."""
        from gqlsync.server import build_served

        if record is not None:
            folder, wrote = await self._written(record.id, bundle)
            numbers = [v.number for v in await self.store.versions(record.id)]
            try:
                app = dataclasses.replace(await asyncio.to_thread(load_app, folder), name=name)
                server = self.server
                served = await asyncio.to_thread(build_served, app, server.clients, server.metrics, server.hub,
                                                 version=str(max(numbers, default=0) + 1), api_id=record.id,
                                                 cache_backend=server.cache_backend)
            except AppError as exc:
                if wrote:
                    import shutil

                    await asyncio.to_thread(shutil.rmtree, folder, True)
                return None, [_relative(p, folder) for p in exc.problems]
            return served, []
        scratch = self.state_dir / "scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="check-", dir=scratch))
        try:
            await asyncio.to_thread(bundle.write, folder / "app")
            root = folder / "app"
            try:
                app = dataclasses.replace(await asyncio.to_thread(load_app, root), name=name)
                server = self.server
                served = await asyncio.to_thread(build_served, app, server.clients, server.metrics, server.hub,
                                                 version="check", api_id=record.id if record else name)
            except AppError as exc:
                return None, [_relative(p, root) for p in exc.problems]
            return served, []
        finally:
            import shutil

            await asyncio.to_thread(shutil.rmtree, folder, True)

    async def deploy(self, name: str, bundle: Bundle, *, author: str = "", message: str = "",
                     canary: CanaryOptions | None = None, dry_run: bool = False,
                     allow_breaking: bool = False) -> DeployResult:
        record = await self.store.api(name)
        checked, problems = await self._check(record, name, bundle)
        if problems:
            return DeployResult(record, problems=problems, dry_run=dry_run,
                                refused=f"{len(problems)} problem(s): nothing was deployed")
        current = self.server.apis.get(record.id) if record else None
        old_schema = current.api.schema if current else None
        old_sdl = current.api.app.schema_sdl if current else ""
        diff = schema_diff(old_schema, checked.api.schema, old_sdl, checked.api.app.schema_sdl)
        if diff.breaking and not allow_breaking:
            return DeployResult(record, diff=diff, dry_run=dry_run,
                                refused=f"{len(diff.breaking)} breaking change(s); deploy with --allow-breaking "
                                        "to accept them")
        if canary is not None and current is None:
            return DeployResult(record, diff=diff, dry_run=dry_run,
                                refused="a canary needs a version serving beside it; deploy without --canary first")
        if dry_run:
            return DeployResult(record, diff=diff, dry_run=True)
        if record is None:
            try:
                record = await self.store.create_api(name)
            except StoreConflictError:
                record = await self.api(name)
        version = await self.store.add_version(record.id, bundle, author, message)
        if checked.version == str(version.number) and checked.api_id == record.id:
            self._built[(record.id, version.number)] = checked  # served as checked: not built a second time
        planned: Canary | None = None
        for _ in range(10):
            routing = await self.store.routing(record.id)
            if canary is not None:
                planned = Canary(version.number, canary.weight, time.time(), canary.max_error_rate,
                                 canary.window_seconds, canary.min_requests)
                changed = routing.next(canary=planned, status=f"canary {version.number} at {canary.weight:g}%")
            else:
                changed = routing.next(current=version.number, canary=None, status=f"deployed {version.number}")
            if await self.store.set_routing(changed, routing.revision):
                break
        else:
            raise DeployError("the API's routing kept changing under this deploy; try again")
        await self._apply(record.id, changed)
        await self._notify()
        return DeployResult(record, version, diff, canary=planned)

    async def _move(self, record: ApiRecord, change: Any) -> Routing:
        for _ in range(10):
            routing = await self.store.routing(record.id)
            changed = change(routing)
            if await self.store.set_routing(changed, routing.revision):
                await self._apply(record.id, changed)
                await self._notify()
                return changed
        raise DeployError("the API's routing kept changing; try again")

    async def rollback(self, name: str, to: int | None = None, *, reason: str = "") -> Routing:
        record = await self.api(name)
        versions = [v.number for v in await self.store.versions(record.id)]

        def change(r: Routing) -> Routing:
            if r.canary is not None and to is None:
                why = f": {reason}" if reason else ""
                return r.next(canary=None, status=f"canary {r.canary.version} rolled back{why}")
            target = to
            if target is None:
                earlier = [n for n in versions if r.current is not None and n < r.current]
                if not earlier:
                    raise DeployError(f"API {name} has no version before {r.current} to roll back to")
                target = earlier[-1]
            if target not in versions:
                raise DeployError(f"API {name} has no version {target} (it has {', '.join(map(str, versions))})")
            return r.next(current=target, canary=None, status=f"rolled back to {target}")

        return await self._move(record, change)

    async def create_api_key(self, name: str, description: str = "", expires_days: float | None = 365.0
                             ) -> StoredApiKey:
        """A new API key every version of the API accepts (AppSync's default expiry: 7 days; here a year unless
        given; None: never)."""
        record = await self.api(name)
        key = StoredApiKey("da2-" + new_api_id(), description,
                           time.time() + expires_days * 86400 if expires_days is not None else None, time.time())
        await self._move(record, lambda r: r.next(api_keys=(*r.api_keys, key), status=r.status))
        return key

    async def delete_api_key(self, name: str, key_id: str) -> None:
        record = await self.api(name)

        def change(r: Routing) -> Routing:
            if not any(k.id == key_id for k in r.api_keys):
                raise DeployError(f"API {name} has no API key {key_id} made through the admin API")
            return r.next(api_keys=tuple(k for k in r.api_keys if k.id != key_id), status=r.status)

        await self._move(record, change)

    async def promote(self, name: str) -> Routing:
        record = await self.api(name)

        def change(r: Routing) -> Routing:
            if r.canary is None:
                raise DeployError(f"API {name} has no canary to promote")
            return r.next(current=r.canary.version, canary=None, status=f"promoted canary {r.canary.version}")

        return await self._move(record, change)

    async def diff(self, name: str, a: int, b: int) -> SchemaDiff:
        from gqlsync.engine.schema import build_schema

        record = await self.api(name)
        sdl = []
        for n in (a, b):
            try:
                bundle = await self.store.bundle(record.id, n)
            except KeyError:
                raise DeployError(f"API {name} has no version {n}") from None
            import yaml

            manifest = yaml.safe_load(bundle.files.get("gqlsync.yaml") or bundle.files.get("gqlsync.yml") or b"")
            sdl.append(bundle.files.get(str((manifest or {}).get("schema") or "schema.graphql"), b"").decode())
        schemas = [build_schema(text) for text in sdl]
        return schema_diff(schemas[0], schemas[1], sdl[0], sdl[1])

    # -- canaries
    def canary_counts(self, api_id: str, canary: Canary) -> tuple[int, int]:
        return self.server.versions.window(api_id, str(canary.version), canary.window_seconds)

    async def _watch_canaries(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.check_canaries()
            except Exception as exc:
                log.warning("canary check failed", extra={"reason": repr(exc)})

    async def check_canaries(self) -> list[str]:
        """Roll back every canary whose error rate over its window is past its threshold; returns their APIs."""
        rolled = []
        for api_id, routing in (await self.store.routings()).items():
            canary = routing.canary
            if canary is None:
                continue
            requests, errors = self.canary_counts(api_id, canary)
            if requests < canary.min_requests or errors / requests <= canary.max_error_rate:
                continue
            record = await self.store.api(api_id)
            if record is None:
                continue
            reason = (f"automatically: {errors} of {requests} requests failed ({errors / requests:.0%}) in "
                      f"{canary.window_seconds:g} s, over {canary.max_error_rate:.0%}")
            log.warning("canary rolled back", extra={"api": record.name, "version": canary.version,
                                                     "requests": requests, "errors": errors})
            await self.rollback(record.name, reason=reason)
            rolled.append(record.name)
        return rolled


def attach(server: Any, *, state_dir: Path, control_table: str | None = None, admin_token: str | None = None,
           poll_seconds: float = 1.0, default_api: str | None = None, redis_url: str | None = None,
           bootstrap: Path | None = None, region: str = "us-east-1",
           admin_iam_credentials: dict[str, str] | None = None) -> ControlPlane:
    """Make `server` a managed server: its control plane on a SQLite file in `state_dir`, or on `control_table`
    in DynamoDB (at the server's DynamoDB endpoint), and the admin token (given, or generated into `state_dir`)."""
    from gqlsync.control.tokens import server_token

    store: ControlStore
    if control_table:
        from gqlsync.control.dynamodb_store import DynamoDBStore

        store = DynamoDBStore(control_table, endpoint=server.settings.dynamodb_endpoint, region=region)
    else:
        from gqlsync.control.store import SQLiteStore

        store = SQLiteStore(state_dir / "control.db")
    plane = ControlPlane(server, store, state_dir, poll_seconds=poll_seconds, default_api=default_api)
    plane.admin_token, plane.token_file = server_token(state_dir, admin_token)
    plane.redis_url = redis_url
    plane.bootstrap = bootstrap
    if admin_iam_credentials:
        import os

        from gqlsync.auth.modes.iam import IamAuthenticator, IamConfig

        unset = [env for env in admin_iam_credentials.values() if not os.environ.get(env)]
        if unset:
            raise ValueError(f"admin IAM credentials: the environment has no {', '.join(unset)} (each access key "
                             "id's secret comes from the variable named after it)")

        plane.admin_iam = IamAuthenticator(IamConfig(credentials=tuple(
            {"accessKeyId": key, "secretAccessKeyEnv": env} for key, env in admin_iam_credentials.items())))
    server.control = plane
    return plane
