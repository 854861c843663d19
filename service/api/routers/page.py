"""GET /: the page (plain HTML, CSS and JS from service/api/web/, no build step, no CDN).

Every file it loads comes from here, so it works offline and in a container. The page
gets a Content-Security-Policy that allows only the service itself (no inline script or
style, no other origin, no framing); its script and style sheet are named with a hash of
their content (``/static/app.js?v=<hash>``), so a browser may keep them for a year and
still sees a new release at once: the HTML itself is revalidated every time.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from ..errors import ApiError, Code

router = APIRouter(include_in_schema=False)
auth_router = APIRouter(tags=["health"])

WEB = Path(__file__).resolve().parent.parent / "web"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
ASSETS = ("app.js", "app.css")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
SECURITY = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
YEAR = "public, max-age=31536000, immutable"


def _load() -> tuple[dict[str, tuple[bytes, str]], bytes]:
    """The assets (bytes, hash) and the HTML with the hashed names put in, read once."""
    assets = {}
    for name in ASSETS:
        data = (WEB / name).read_bytes()
        assets[name] = (data, hashlib.sha256(data).hexdigest()[:16])
    html = (WEB / "index.html").read_text(encoding="utf-8")
    for name, (_, digest) in assets.items():
        html = html.replace(f"/static/{name}\"", f"/static/{name}?v={digest}\"")
    return assets, html.encode()


_ASSETS, _HTML = _load()


@router.get("/")
def index() -> Response:
    return Response(_HTML, media_type="text/html; charset=utf-8", headers={**SECURITY, "Cache-Control": "no-cache"})


@router.get("/static/{name}")
def asset(name: str, v: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    if name not in _ASSETS:
        raise ApiError(404, Code.NOT_FOUND, "no such file; the page is at /")
    data, digest = _ASSETS[name]
    cache = YEAR if v == digest else "no-cache"  # an old or missing hash: revalidate, never keep
    return Response(data, media_type=TYPES[Path(name).suffix],
                    headers={**SECURITY, "Cache-Control": cache, "ETag": f'"{digest}"'})


class AuthOut(BaseModel):
    admin: str = Field(description="token: the admin endpoints need CATSVC_ADMIN_TOKEN; open: they need none; "
                       "disabled: they answer 403 ADMIN_DISABLED")
    predict: str = Field(description="token: /predict needs CATSVC_PREDICT_TOKEN (or the admin token); open")


@auth_router.get("/auth", response_model=AuthOut, summary="Which tokens the service asks for (never the tokens)")
def auth(request: Request) -> AuthOut:
    """What the page needs to know to ask for a token; a 401 tells anyone as much."""
    tokens = request.app.state.tokens
    admin = "disabled" if tokens.admin_disabled else "token" if tokens.admin else "open"
    return AuthOut(admin=admin, predict="token" if tokens.predict else "open")
