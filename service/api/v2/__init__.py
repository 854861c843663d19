"""The Open Inference Protocol (KServe V2 / Triton HTTP), beside the native API.

The protocol's text is kserve's ``docs/predict-api/v2/required_api.md``; binary tensors
follow Triton's ``docs/protocol/extension_binary_data.md``. The pieces, one idea each:

* :mod:`.signature`  the model's inputs and outputs as the protocol names them
* :mod:`.request`    an inference request's body -> :class:`.request.InferRequest` (pure)
* :mod:`.tensors`    its input tensor -> pixel columns ``X (12288, N)`` or image files (pure)
* :mod:`.response`   probabilities -> the response body, JSON or binary (pure)
* :mod:`.versions`   the stored versions a request may name, loaded on demand and cached
* :mod:`.fastpath`   POST .../infer straight to its endpoint, past FastAPI's router
* :mod:`.schemas`    the protocol's objects for the OpenAPI document

The endpoints are :mod:`service.api.routers.v2`.
"""
