"""The FastAPI application: only wiring. ``create_app`` is uvicorn's factory."""
from __future__ import annotations

from fastapi import FastAPI

from model_core import __version__ as model_core_version

from .errors import install_error_handlers
from .logs import setup_logging
from .routers import datasets, health, models, params, predict, train
from .services import Services
from .settings import Settings
from .threads import limit_blas_threads

DESCRIPTION = """
The course's cat / non-cat deep network as a service: predict from any image, train in
the background, inspect and swap parameters.

Every error is `{"error": "<what to fix>", "code": "<STABLE_CODE>"}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    setup_logging(settings.log_level)
    limit_blas_threads(settings.api_threads)
    app = FastAPI(
        title="catvnoncat",
        version=model_core_version,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.services = Services.build(settings)
    install_error_handlers(app)
    for module in (predict, train, datasets, params, models, health):
        app.include_router(module.router)
    return app
