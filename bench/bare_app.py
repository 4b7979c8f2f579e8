"""The upper limit for any Starlette server here: a bare JSON endpoint on the same uvicorn settings."""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def graphql(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"data": {"getEvent": {"id": "1", "name": "bare"}}})


app = Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
