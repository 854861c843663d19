"""The cat / non-cat REST microservice on top of model_core.

``python -m service`` starts it: a supervisor running the API workers (uvicorn, FastAPI)
and one trainer process. All state shared between them lives in the data directory.
"""
