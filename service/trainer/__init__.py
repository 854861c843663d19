"""The trainer process: takes queued jobs one at a time and runs each in a forked child.
Imports ``service.state`` and ``model_core``, never ``service.api.server``."""
