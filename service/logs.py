"""Logging set-up shared by the supervisor, the API workers and the trainer.

Plain text lines for now; issue 4 turns them into one JSON object per line.
"""
from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT)
    logging.getLogger("service").setLevel(level.upper())
