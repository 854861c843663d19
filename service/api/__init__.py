"""The API process: uvicorn workers serving the FastAPI app. Imports ``service.state`` and
``model_core``, never ``service.trainer.worker``."""
