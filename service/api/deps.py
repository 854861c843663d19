"""FastAPI dependencies, as ``Annotated`` aliases the routers put in their signatures."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..settings import Settings
from ..state.datasets import DatasetCatalog
from ..state.protocols import JobQueueProtocol, ModelStoreProtocol
from .model_cache import ModelCache
from .services import Services


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_settings(request: Request) -> Settings:
    return request.app.state.services.settings


def get_store(request: Request) -> ModelStoreProtocol:
    return request.app.state.services.store


def get_models(request: Request) -> ModelCache:
    return request.app.state.services.models


def get_queue(request: Request) -> JobQueueProtocol:
    return request.app.state.services.queue


def get_catalog(request: Request) -> DatasetCatalog:
    return request.app.state.services.catalog


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[ModelStoreProtocol, Depends(get_store)]
ModelsDep = Annotated[ModelCache, Depends(get_models)]
QueueDep = Annotated[JobQueueProtocol, Depends(get_queue)]
CatalogDep = Annotated[DatasetCatalog, Depends(get_catalog)]
