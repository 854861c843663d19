"""``python -m service``: start the API workers and the trainer (see service.supervisor)."""
from .supervisor import main

main()
