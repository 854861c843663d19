"""Which model versions the retention deletes: one rule for every store."""
from __future__ import annotations

import logging

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger("service.store")


@dataclass(frozen=True)
class Retention:
    """How many versions, and how many bytes of them, to keep (the active one and those a
    job produced within ``recent_job_seconds`` are always kept)."""

    count: int
    bytes: int
    recent_job_seconds: float = 3600.0
    # any version this young is kept: another process may have just added it and be about to
    # activate it (add, activate and the clean-up are three steps, each under the lock)
    fresh_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        return cls(count=settings.keep_versions, bytes=settings.keep_version_bytes)

    def kept(self, version: int, age: float, active: int | None, keep: tuple[int, ...],
             metadata: Callable[[int], dict[str, Any] | None]) -> bool:
        """Whether ``version``, ``age`` seconds old, must stay whatever the bounds say."""
        if version == active or version in keep or age < self.fresh_seconds:
            return True
        if age >= self.recent_job_seconds:
            return False
        meta = metadata(version) or {}
        return (meta.get("source") or {}).get("kind") == "job"  # a recent job's (by the store's own time)

    def beyond(self, sizes: dict[int, int], kept: Callable[[int], bool]) -> list[int]:
        """The versions to delete, oldest first, until ``sizes`` (version -> bytes) fit both bounds."""
        left = dict(sizes)
        out: list[int] = []
        for v in sorted(sizes):  # oldest first
            if len(left) <= self.count and sum(left.values()) <= self.bytes:
                break
            if kept(v):
                continue
            del left[v]
            out.append(v)
        return out

    def apply(self, sizes: dict[int, int], kept: Callable[[int], bool], delete: Callable[[int], None]) -> list[int]:
        """Delete (``delete(v)``) the versions :meth:`beyond` names; return them."""
        deleted = self.beyond(sizes, kept)
        for v in deleted:
            delete(v)
        if deleted:
            log.info("deleted model version(s) %s: beyond the retention (CATSVC_KEEP_VERSIONS, "
                     "CATSVC_KEEP_VERSION_BYTES)", deleted)
        return deleted
