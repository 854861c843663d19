"""JSON responses rendered with orjson: numpy arrays and scalars serialize directly."""
from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, option=_OPTIONS)


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response built without FastAPI's encoder (the hot path and errors use it)."""
    return Response(dumps(content), status_code=status, headers=headers, media_type="application/json")


# an SVG opened at its URL is a document of this origin: no script, no other file, no framing
# (its inline presentation attributes need no style-src)
_SVG_HEADERS = {"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff"}


def svg_response(svg: str, cache_control: str) -> Response:
    """An image/svg+xml answer (drawn by model_core's cost_svg) that can run nothing."""
    return Response(svg, media_type="image/svg+xml", headers={**_SVG_HEADERS, "Cache-Control": cache_control})
