"""Bearer tokens: ``Authorization: Bearer <token>``, compared in constant time.

* ``CATSVC_ADMIN_TOKEN`` guards what changes the service: training (POST /train,
  DELETE /train/{id}), data set upload, parameter upload and activation.
* ``CATSVC_PREDICT_TOKEN`` guards POST /predict; the admin token is accepted there too.
* ``CATSVC_METRICS_TOKEN`` guards GET /metrics (open without it, as health is); the admin
  token is accepted there too.

A token that is not configured leaves its endpoints open (the supervisor says so in the
log at start-up), with one exception: a service that listens beyond loopback (in a
container, ``CATSVC_HOST=0.0.0.0``) with no admin token refuses the admin endpoints with
403 ``ADMIN_DISABLED`` unless ``CATSVC_ALLOW_OPEN_ADMIN=true`` (``Settings.admin_disabled``):
there, anyone on the network could otherwise train and swap the model. Reads (GET of
jobs, data sets, models, parameters), health and docs are always open. No header -> 401
with ``WWW-Authenticate``; a wrong token -> 403. The OpenAPI document declares both
schemes on the endpoints they guard. Tokens may come from files (``*_TOKEN_FILE``,
read by :mod:`service.settings`).

The admin routes take :data:`AdminAuth` as a FastAPI dependency. /predict, the hot path,
calls :func:`check_predict` itself: resolving a dependency (and HTTPBearer's own) costs
about 40 us a request there, the check itself about 1 us.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..settings import Settings
from .errors import ApiError, Code

REALM = 'Bearer realm="catvnoncat"'

_admin_scheme = HTTPBearer(
    scheme_name="AdminToken",
    description="CATSVC_ADMIN_TOKEN: training, data set upload, parameter upload and activation "
    "(enforced only when the setting is set)",
    auto_error=False,
)
# declared in the OpenAPI document by service.app (no dependency declares it)
PREDICT_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "CATSVC_PREDICT_TOKEN (or the admin token): predictions (enforced only when the setting is set)",
}
METRICS_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "CATSVC_METRICS_TOKEN (or the admin token): GET /metrics (enforced only when the setting is set)",
}
PREDICT_SECURITY: list[dict[str, list[str]]] = [{"PredictToken": []}, {"AdminToken": []}]  # an operation's "security"


@dataclass(frozen=True)
class Tokens:
    """The accepted tokens per kind of endpoint, as bytes; empty: the endpoints are open,
    unless ``admin_disabled``."""

    admin: tuple[bytes, ...]
    predict: tuple[bytes, ...]
    admin_disabled: bool = False
    metrics: tuple[bytes, ...] = ()  # GET /metrics

    @classmethod
    def from_settings(cls, settings: Settings) -> Tokens:
        admin = (settings.admin_token.get_secret_value().encode(),) if settings.admin_token else ()
        predict = (settings.predict_token.get_secret_value().encode(),) if settings.predict_token else ()
        metrics = (settings.metrics_token.get_secret_value().encode(),) if settings.metrics_token else ()
        return cls(admin=admin, predict=predict + admin if predict else (), admin_disabled=settings.admin_disabled,
                   metrics=metrics + admin if metrics else ())


ADMIN_DISABLED_MESSAGE = (
    "the admin endpoints are off: the service listens beyond loopback (CATSVC_HOST) and has no admin "
    "token; set CATSVC_ADMIN_TOKEN or CATSVC_ADMIN_TOKEN_FILE and send 'Authorization: Bearer <token>', "
    "or set CATSVC_ALLOW_OPEN_ADMIN=true to open them to anyone who reaches the port"
)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def check_token(token: str | None, accepted: tuple[bytes, ...], setting: str) -> None:
    """Pass if ``accepted`` is empty or ``token`` is one of them; 401 or 403 otherwise."""
    if not accepted:
        return
    if token is None:
        raise ApiError(
            401, Code.AUTH_REQUIRED,
            f"this endpoint needs a token: send the header 'Authorization: Bearer <token>' "
            f"with the token set in {setting}",
            headers={"WWW-Authenticate": REALM},
        )
    given = token.encode()
    ok = False
    for expected in accepted:  # every token compared, each in constant time
        ok |= hmac.compare_digest(given, expected)
    if not ok:
        raise ApiError(
            403, Code.AUTH_INVALID, f"the token is not valid for this endpoint; it needs the one set in {setting}",
            headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
        )


async def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_admin_scheme)]
) -> None:
    if request.app.state.tokens.admin_disabled:
        raise ApiError(403, Code.ADMIN_DISABLED, ADMIN_DISABLED_MESSAGE)
    check_token(credentials.credentials if credentials else None, request.app.state.tokens.admin,
                "CATSVC_ADMIN_TOKEN")


def check_predict(request: Request) -> None:
    """The /predict check, called by the route itself (see the module notes)."""
    accepted = request.app.state.tokens.predict
    if accepted:
        check_token(bearer_token(request.headers.get("authorization")), accepted, "CATSVC_PREDICT_TOKEN")


def check_metrics(request: Request) -> None:
    """GET /metrics: open unless CATSVC_METRICS_TOKEN is set (the admin token works there too)."""
    accepted = request.app.state.tokens.metrics
    if accepted:
        check_token(bearer_token(request.headers.get("authorization")), accepted, "CATSVC_METRICS_TOKEN")


# for a route's ``dependencies=[...]`` (async: checked inline, not in the threadpool)
AdminAuth = Depends(require_admin)
