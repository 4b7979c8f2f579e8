"""An app version's files as one immutable bundle: relative path -> bytes, its checksum, written out to load.

What `gqlsync deploy` uploads and the control store keeps: everything an app folder holds that serving needs
(manifest, schema, mapping templates, handler code), never its `.gqlsync/` state. A bundle is made from an app
folder, a manifest, a bare `schema.graphql` (on top of the API's current version) or a CloudFormation template
(through `import-cfn`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gqlsync.app.errors import AppError, Problem
from gqlsync.app.loader import MANIFEST_NAMES

#: Folders and files that are never part of an app version.
SKIPPED = frozenset({".gqlsync", "__pycache__", ".git", "node_modules", ".DS_Store"})
MAX_BUNDLE_BYTES = 20 * 1024 * 1024


class BundleError(ValueError):
    """The files cannot form a bundle (a path that escapes the app, too large...)."""


def _safe(path: str) -> str:
    p = PurePosixPath(path)
    if p.is_absolute() or not p.parts or any(part in ("..", "") for part in p.parts) or "\\" in path:
        raise BundleError(f"{path!r} is not a relative path inside the app")
    return p.as_posix()


@dataclass(frozen=True)
class Bundle:
    files: Mapping[str, bytes]

    @property
    def checksum(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + hashlib.sha256(self.files[name]).digest())
        return "sha256:" + h.hexdigest()

    @property
    def size(self) -> int:
        return sum(len(v) for v in self.files.values())

    @classmethod
    def of(cls, files: Mapping[str, bytes]) -> Bundle:
        clean = {_safe(k): bytes(v) for k, v in files.items()}
        if not any(n in clean for n in MANIFEST_NAMES):
            raise BundleError(f"the files hold no {MANIFEST_NAMES[0]} at their top level")
        total = sum(len(v) for v in clean.values())
        if total > MAX_BUNDLE_BYTES:
            raise BundleError(f"the app's files come to {total} bytes; at most {MAX_BUNDLE_BYTES} are accepted")
        return cls(clean)

    @classmethod
    def from_folder(cls, root: Path) -> Bundle:
        files: dict[str, bytes] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED and not d.startswith("."))
            for name in sorted(filenames):
                if name in SKIPPED or name.endswith((".pyc", "~", ".swp")):
                    continue
                path = Path(dirpath) / name
                files[path.relative_to(root).as_posix()] = path.read_bytes()
        return cls.of(files)

    # -- the wire (admin API) and the stores
    def to_json(self) -> dict[str, str]:
        return {k: base64.b64encode(v).decode() for k, v in self.files.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, str]) -> Bundle:
        try:
            return cls.of({k: base64.b64decode(v, validate=True) for k, v in data.items()})
        except (ValueError, TypeError) as exc:
            if isinstance(exc, BundleError):
                raise
            raise BundleError(f"the files are not base64: {exc}") from None

    def pack(self) -> bytes:
        """Compressed, for a store."""
        return zlib.compress(json.dumps(self.to_json(), sort_keys=True).encode(), 6)

    @classmethod
    def unpack(cls, blob: bytes) -> Bundle:
        return cls.from_json(json.loads(zlib.decompress(blob)))

    def write(self, folder: Path) -> Path:
        """The files under `folder` (created; replaced atomically if it exists with other content)."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        for name, data in self.files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
        return folder

    def with_files(self, changed: Mapping[str, bytes]) -> Bundle:
        return Bundle.of({**self.files, **changed})


def manifest_name(bundle: Bundle) -> str:
    return next(n for n in MANIFEST_NAMES if n in bundle.files)


def _looks_like_template(path: Path) -> bool:
    if path.suffix.lower() not in (".json", ".yaml", ".yml", ".template"):
        return False
    head = path.read_text(encoding="utf-8", errors="replace")[:20000]
    return "AWSTemplateFormatVersion" in head or ("Resources" in head and "AWS::" in head)


def bundle_for(source: Path, *, current: Bundle | None = None, api_key: str | None = None) -> tuple[Bundle, str]:
    """The bundle `gqlsync deploy SOURCE` uploads and how it was found. SOURCE is an app folder, its manifest, a
    bare `schema.graphql` or a CloudFormation template. Raises AppError (file, line, reason)."""
    if source.is_dir():
        return Bundle.from_folder(source), f"app folder {source}"
    if not source.is_file():
        raise AppError([Problem(str(source), None, "no such file or folder")])
    if source.name in MANIFEST_NAMES:
        return Bundle.from_folder(source.parent), f"app folder {source.parent}"
    if source.suffix == ".graphql" or source.suffix == ".gql":
        if any((source.parent / n).is_file() for n in MANIFEST_NAMES):
            return Bundle.from_folder(source.parent), f"app folder {source.parent} (beside {source.name})"
        if current is None:
            raise AppError([Problem(str(source), None, "a bare schema deploys on top of the API's current version, "
                                                        "and this API has none yet: deploy an app folder (with "
                                                        f"{MANIFEST_NAMES[0]}) first")])
        return _on_current(source, current), f"{source.name} on the current version's files"
    if _looks_like_template(source):
        key = api_key or "da2-" + secrets.token_hex(13)
        return _from_template(source, key), f"CloudFormation template {source.name} (imported; API key {key})"
    raise AppError([Problem(str(source), None, "not an app folder, gqlsync.yaml, .graphql schema or CloudFormation "
                                                "template")])


def _on_current(schema: Path, current: Bundle) -> Bundle:
    """The convention for a bare schema: it replaces the current version's schema file, and every file beside it
    whose path (relative to the schema's folder) the current version also has replaces that one — mapping
    templates under `resolvers/`, say. New resolvers need the manifest, so a folder with one deploys whole."""
    import yaml

    manifest = yaml.safe_load(current.files[manifest_name(current)]) or {}
    schema_path = str(manifest.get("schema") or "schema.graphql")
    changed = {schema_path: schema.read_bytes()}
    folder = schema.parent
    for name in current.files:
        candidate = folder / name
        if name != schema_path and candidate.is_file() and candidate.resolve() != schema.resolve():
            changed[name] = candidate.read_bytes()
    return current.with_files(changed)


def _from_template(template: Path, api_key: str) -> Bundle:
    from gqlsync.app.cloudformation import import_cloudformation

    with tempfile.TemporaryDirectory(prefix="gqlsync-deploy-") as tmp:
        out = Path(tmp) / "app"
        import_cloudformation([template], template.parent, out, api_key=api_key)
        return Bundle.from_folder(out)
