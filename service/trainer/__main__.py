"""``python -m service.trainer``: the trainer process (the supervisor starts it; see service.trainer.worker)."""
from .worker import main

main()
