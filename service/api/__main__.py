"""``python -m service.api``: the API process (the supervisor starts it; see service.api.server)."""
from .server import main

main()
