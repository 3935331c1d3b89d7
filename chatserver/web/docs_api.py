"""``GET /api/openapi.json`` (the document of ``chatserver.web.openapi``) and ``GET /api/docs``
(a page that shows it, from chatserver/static/api-docs: no CDN)."""

from __future__ import annotations

from pathlib import Path

import msgspec
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from chatserver.web.openapi import document

DOCS_PAGE = Path(__file__).resolve().parent.parent / "static" / "api-docs" / "index.html"


async def openapi_json(request: Request) -> Response:
    return Response(
        msgspec.json.encode(document()),
        media_type="application/json",
        headers={"Cache-Control": "no-cache"},
    )


async def docs_page(request: Request) -> Response:
    return FileResponse(DOCS_PAGE, media_type="text/html", headers={"Cache-Control": "no-cache"})


routes = [
    Route("/api/openapi.json", openapi_json, methods=["GET"]),
    Route("/api/docs", docs_page, methods=["GET"]),
]
