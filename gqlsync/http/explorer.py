"""The in-browser explorer on GET /graphql: GraphiQL served from files shipped in the package (works offline)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import html
import json
import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/_gqlsync/static"  # the route serving STATIC_DIR's browser files: STATIC_PATH + "/{name}"

_CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_IMMUTABLE = "public, max-age=31536000, immutable"  # the page's links carry each file's digest (?v=...)

_PAGE = (STATIC_DIR / "explorer.html").read_text(encoding="utf-8")  # the page's template
_PLACEHOLDER = re.compile(r"__(STATIC|HEADERS|TITLE_JSON|TITLE|V_[\w.-]+?)__")


def _js(value: object) -> str:
    """A JSON literal safe inside a <script> element."""
    return (json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


@functools.cache
def _assets() -> dict[str, tuple[bytes, str]]:
    """The servable files (name -> contents, digest): the vendored .js and .css only, read once."""
    out: dict[str, tuple[bytes, str]] = {}
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file() and path.suffix in _CONTENT_TYPES:
            body = path.read_bytes()
            out[path.name] = (body, hashlib.sha256(body).hexdigest()[:16])
    return out


@functools.cache
def _gzipped(name: str) -> bytes:
    return gzip.compress(_assets()[name][0], compresslevel=9, mtime=0)


def explorer_page(title: str, endpoint: str, api_key: str, root_path: str = "") -> HTMLResponse:
    """GraphiQL for the API at `endpoint`, its headers editor pre-filled with `api_key` (when given).

    The page posts to (and subscribes under) its own URL, so it needs no `endpoint` (the URL it was requested
    at; kept for callers) and works behind a proxy or a path prefix. `root_path` is the ASGI root path
    gqlsync's app is mounted at: the prefix of STATIC_PATH, which the page's scripts load from.
    """
    values = {"STATIC": html.escape(root_path.rstrip("/") + STATIC_PATH, quote=True),
              "HEADERS": _js(json.dumps({"x-api-key": api_key} if api_key else {}, indent=2)),
              "TITLE": html.escape(title), "TITLE_JSON": _js(title)}
    values.update({f"V_{name}": digest for name, (_, digest) in _assets().items()})
    page = _PLACEHOLDER.sub(lambda m: values[m.group(1)], _PAGE)  # one pass: values are never re-read
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


async def explorer_static(request: Request) -> Response:
    """GET STATIC_PATH/{name}: one of the vendored files, gzipped when the client accepts it."""
    name = request.path_params.get("name", "")
    asset = _assets().get(name)  # a fixed set of plain names: no path ever reaches the file system
    if asset is None:
        return Response("Not Found", status_code=404, media_type="text/plain")
    body, digest = asset
    etag = f'"{digest}"'
    headers = {"Cache-Control": _IMMUTABLE, "ETag": etag, "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        body = _gzipped(name)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=_CONTENT_TYPES[Path(name).suffix], headers=headers)
