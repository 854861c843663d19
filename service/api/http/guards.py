"""What a web page in a user's browser must not do: reach the service by DNS rebinding, or
send it changes from another site. A pure ASGI layer that every request passes, /predict
included (it sits outside :class:`service.api.http.fastpath.PredictFastPath`); a few header
comparisons a request.

* Host: a page on ``evil.example`` whose name the attacker re-points at 127.0.0.1 is, to
  the browser, the same origin as the service: it may read every answer. Its requests
  still say ``Host: evil.example``, so a Host that is not in ``CATSVC_ALLOWED_HOSTS``
  (the port left out; default: the bound address, ``localhost``, ``127.0.0.1``, ``[::1]``)
  gets 400 ``HOST_NOT_ALLOWED``. /health/* and /v2/health/* are exempt: orchestrators'
  probes send the pod's address as Host, and health tells nothing and changes nothing;
  so is /metrics, which Prometheus scrapes by whatever name it has for the service (it
  changes nothing; CATSVC_METRICS_TOKEN keeps what it tells to the token's holders).
* Origin: a page on another site can POST a form or a "simple" fetch with no CORS
  preflight, and the browser sends it with the user's network position. A POST, PUT,
  PATCH or DELETE whose ``Origin`` is neither the service's own (``http(s)://<Host>``)
  nor in ``CATSVC_ALLOWED_ORIGINS`` gets 403 ``ORIGIN_NOT_ALLOWED``; so does
  ``Origin: null`` (sandboxed frames, file: pages), and a request without Origin that
  the browser marks ``Sec-Fetch-Site: cross-site``. Requests without either header
  (curl, scripts, other services) are not from a page and pass.

Errors never quote the header values: they are the request's data.
"""
from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ...settings import Settings
from ...state import metrics
from ..errors import Code
from ..responses import json_response

_MUTATING = frozenset(("POST", "PUT", "PATCH", "DELETE"))
# the native and the Open Inference Protocol's probes, and the metrics, which Prometheus scrapes by
# whatever name it has for the service (a compose service's name, a pod's address)
_EXEMPT_PREFIX = ("/health/", "/v2/health/", "/metrics")
_OWN_SCHEMES = (b"http://", b"https://")  # https: behind a proxy that terminates TLS

HOST_NOT_ALLOWED = {
    "error": "the Host header names a host this service does not answer to (a page that re-points its own "
             "name at the service, DNS rebinding, looks like this); send the request to an allowed name, "
             "or add the name clients use to CATSVC_ALLOWED_HOSTS (comma-separated)",
    "code": Code.HOST_NOT_ALLOWED,
}
NO_HOST = {
    "error": "send exactly one Host header (HTTP/1.1 requires it), naming a host in CATSVC_ALLOWED_HOSTS",
    "code": Code.HOST_NOT_ALLOWED,
}
ORIGIN_NOT_ALLOWED = {
    "error": "a request that changes something came from a web page of another origin; send it from the "
             "service's own pages or without a browser, or add the page's origin (scheme://host[:port]) "
             "to CATSVC_ALLOWED_ORIGINS",
    "code": Code.ORIGIN_NOT_ALLOWED,
}
CROSS_SITE = {
    "error": "a request that changes something came from a web page of another site (Sec-Fetch-Site: "
             "cross-site); send it without a browser, or from a page whose origin is in CATSVC_ALLOWED_ORIGINS",
    "code": Code.ORIGIN_NOT_ALLOWED,
}


def host_of(value: bytes) -> bytes:
    """A Host header's host, compared as :func:`service.settings.host_name` writes the
    allowed ones: lower case, no port (``LocalHost:8000`` -> ``localhost``)."""
    value = value.lower()
    if value.startswith(b"["):
        return value.partition(b"]")[0] + b"]"
    return value.partition(b":")[0]


class BrowserGuard:
    def __init__(self, app: ASGIApp, *, hosts: frozenset[str] | None, origins: tuple[str, ...]) -> None:
        self.app = app
        self.hosts = None if hosts is None else frozenset(h.encode("ascii") for h in hosts)  # None: any
        self.origins = frozenset(o.encode("ascii") for o in origins)

    @classmethod
    def from_settings(cls, app: ASGIApp, settings: Settings) -> BrowserGuard:
        return cls(app, hosts=settings.allowed_host_names, origins=settings.allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                status, body = refusal
                metrics.error(body["code"])
                await json_response(body, status)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> tuple[int, dict[str, str]] | None:
        """(status, error body) for a request a browser must not make; None for the rest."""
        host = origin = site = None
        hosts = 0
        for name, value in scope["headers"]:
            if name == b"host":
                host, hosts = value, hosts + 1
            elif name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                site = value
        if self.hosts is not None and not scope["path"].startswith(_EXEMPT_PREFIX):
            if hosts != 1:
                return 400, NO_HOST
            if host_of(host) not in self.hosts:  # type: ignore[arg-type]  # one Host: not None
                return 400, HOST_NOT_ALLOWED
        if scope["method"] not in _MUTATING:
            return None
        if origin is not None:
            origin = origin.lower()
            own = host is not None and origin in [scheme + host.lower() for scheme in _OWN_SCHEMES]
            return None if own or origin in self.origins else (403, ORIGIN_NOT_ALLOWED)
        return (403, CROSS_SITE) if site == b"cross-site" else None
