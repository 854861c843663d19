"""POST /v2/models/{model_name}[/versions/{model_version}]/infer straight to its endpoint,
as :class:`service.api.http.fastpath.PredictFastPath` sends /predict: FastAPI's router
tries every route in turn and resolves the path parameters through its dependency
machinery, which cost more than the forward pass of the course's net (in-process, a V2
JSON request took 2.95 ms through the router and 1.53 ms past it; a binary one 0.94 and
0.43 ms). The endpoint, its OpenAPI entry and its errors are the router's own; only the
dispatch is shorter.
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..http.fastpath import PredictFastPath

# Starlette's "{name}" matches [^/]+ of the decoded path: the same here
INFER_PATH = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")
# the router's templates of the same two endpoints: the route label of their metrics
MODEL_ROUTE = "/v2/models/{model_name}/infer"
VERSION_ROUTE = "/v2/models/{model_name}/versions/{model_version}/infer"
Infer = Callable[[Request, str, "str | None"], Awaitable[Response]]


class InferFastPath:
    def __init__(self, inner: ASGIApp, app: FastAPI, infer: Infer) -> None:
        self.inner, self.app, self.infer = inner, app, infer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = INFER_PATH.fullmatch(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if match is None:
            await self.inner(scope, receive, send)
            return
        model_name, model_version = match[1], match[2]
        scope["path_params"] = {"model_name": model_name, **({"model_version": model_version} if model_version else {})}

        async def endpoint(request: Request) -> Response:
            return await self.infer(request, model_name, model_version)

        # PredictFastPath's dispatch, errors through the app's own handlers, for this one path
        route = VERSION_ROUTE if model_version else MODEL_ROUTE
        await PredictFastPath(self.inner, self.app, scope["path"], endpoint, route)(scope, receive, send)
