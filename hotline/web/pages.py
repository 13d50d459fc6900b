"""Routes for the browser pages and their static files.

    app = create_app(services, routers=[pages.router, ivr_router, router_router])

Pages are public shells: HTML that loads an ES module from ``/static/js``.
Every figure comes from the authenticated REST and WebSocket APIs, with the
bearer token the login page keeps in ``sessionStorage``; an API answer of 401
sends the browser back to ``/login``. Nothing here reads the database.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent / "static"

PAGES = {
    "/": "index.html",
    "/login": "login.html",
    "/flows": "flows.html",
    "/wallboard": "wallboard.html",
    "/desktop": "desktop.html",
}

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

# Scripts and styles come only from this server; no inline script, no third-party origin.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["pages"], include_in_schema=False)


def _file(path: Path) -> FileResponse:
    media_type = _TYPES.get(path.suffix)
    if media_type is None or not path.is_file():
        raise HTTPException(404, "not found")
    return FileResponse(path, media_type=media_type, headers=_SECURITY_HEADERS)


def _page_route(filename: str):  # noqa: ANN202 - a FastAPI endpoint
    async def page() -> FileResponse:
        return _file(STATIC_DIR / filename)

    page.__name__ = f"page_{filename.removesuffix('.html')}"
    return page


for _path, _filename in PAGES.items():
    router.add_api_route(_path, _page_route(_filename), methods=["GET"], response_class=FileResponse)


@router.get("/static/{path:path}")
async def static_file(path: str) -> FileResponse:
    """A file under ``static/``; paths that leave the directory are 404."""
    target = (STATIC_DIR / path).resolve()
    if not target.is_relative_to(STATIC_DIR) or target.name.startswith((".", "_")):
        raise HTTPException(404, "not found")
    return _file(target)
