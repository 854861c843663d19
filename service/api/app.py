"""The FastAPI application: only wiring. ``create_app`` is uvicorn's factory."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp

from model_core import __version__ as model_core_version

from ..settings import Settings
from ..state import metrics
from ..state.logs import setup_logging
from ..state.procs import limit_blas_threads
from .auth import METRICS_SCHEME, PREDICT_SCHEME, Tokens
from .docs import install_docs
from .errors import document_errors, install_error_handlers
from .http.fastpath import PredictFastPath
from .http.guards import BrowserGuard
from .http.middleware import RequestMiddleware
from .routers import datasets, health, metrics as metrics_router, models, page, params, predict, train, train_views, v2
from .services import Services
from .v2.fastpath import InferFastPath
from .v2.versions import VersionCache

DESCRIPTION = """
The course's cat / non-cat deep network as a service: predict from any image, train in
the background, inspect and swap parameters.

Every error is `{"error": "<what to fix>", "code": "<STABLE_CODE>"}`. Every response has an
`X-Request-ID` header (yours, if you sent a sane one), also found in the service's log.

Tokens: when the service is configured with them, training, data set upload, parameter
upload and activation need `Authorization: Bearer <CATSVC_ADMIN_TOKEN>`, and predictions
`Authorization: Bearer <CATSVC_PREDICT_TOKEN>` (the admin token works there too).
Health, docs and reads stay open. A service that listens beyond loopback with no admin
token refuses the admin endpoints (403 `ADMIN_DISABLED`) unless `CATSVC_ALLOW_OPEN_ADMIN=true`.

Browsers: a request whose `Host` is not in `CATSVC_ALLOWED_HOSTS` gets 400 `HOST_NOT_ALLOWED`
(health excepted); a POST, PUT or DELETE sent by a web page of another origin (its `Origin`
neither the service's own nor in `CATSVC_ALLOWED_ORIGINS`) gets 403 `ORIGIN_NOT_ALLOWED`.
Bodies: JSON endpoints take `application/json`, uploads `multipart/form-data` (415 otherwise).
"""


class App(FastAPI):
    """FastAPI with :class:`RequestMiddleware` outermost, so that it also sees the 500s
    that Starlette's ServerErrorMiddleware (otherwise the outermost layer) sends, then
    :class:`BrowserGuard` (Host and Origin: every request, with its request id and log
    line), and POST /predict and the V2 infer endpoints dispatched straight to their endpoints
    (:mod:`service.api.http.fastpath`, :mod:`service.api.v2.fastpath`)."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._settings = settings

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            schema = super().openapi()
            document_errors(schema)
            # /predict checks its token without a dependency, so none declares the scheme
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["PredictToken"], schemes["MetricsToken"] = PREDICT_SCHEME, METRICS_SCHEME
            return schema  # FastAPI keeps it as self.openapi_schema
        return self.openapi_schema

    def build_middleware_stack(self) -> ASGIApp:
        s = self._settings
        inner: ASGIApp = PredictFastPath(super().build_middleware_stack(), self, "/predict", predict.predict)
        inner = InferFastPath(inner, self, v2.infer_request)
        inner = BrowserGuard.from_settings(inner, s)
        return RequestMiddleware(
            inner, body_timeout=s.body_timeout, access_log=s.access_log,
        )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.services.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    setup_logging(settings.log_level)
    limit_blas_threads(settings.api_threads)
    app = App(
        settings,
        title="catvnoncat",
        version=model_core_version,
        description=DESCRIPTION,
        docs_url=None,  # service.docs serves /docs and /redoc with their own assets
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = Services.build(settings)
    metrics.start(settings, api_worker=True)
    app.state.tokens = Tokens.from_settings(settings)
    # the stored versions the Open Inference Protocol may name, besides the active one
    app.state.model_versions = VersionCache(app.state.services.store, app.state.services.models)
    install_error_handlers(app)
    install_docs(app)
    for module in (predict, train, train_views, datasets, params, models, health, v2, metrics_router, page):
        app.include_router(module.router)
    app.include_router(page.auth_router)
    return app
