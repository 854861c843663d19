"""The course's fully connected net served by KServe's own Python model server (V2 REST),
for bench/v2_bench.py: a small ``kserve.Model`` whose forward pass is NumPy on the same
parameters the service serves. Runs in KServe's own venv (bench/v2_bench.py makes it).

    .venv-kserve/bin/python bench/kserve_model.py --params model.npz --http_port 8080 --workers 1
"""
from __future__ import annotations

import argparse
import logging
import uuid

import numpy as np
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve import model_server as kserve_server

LABELS = np.array(["non-cat", "cat"], dtype=object)


class CatVNonCat(Model):
    """P(cat) from pixel values 0..255 of the input ``pixels`` (N, 12288): X / 255, ReLU
    layers, a sigmoid output (the course's net, the service's input norm "scale")."""

    def __init__(self, name: str, params: str) -> None:
        super().__init__(name)
        with np.load(params) as f:
            self.parameters = {k: f[k] for k in f.files}
        self.L = len(self.parameters) // 2
        self.ready = True

    def forward(self, X: np.ndarray) -> np.ndarray:
        """X (12288, m) raw pixels -> P(cat) (m,)."""
        A = X / 255
        for l in range(1, self.L + 1):
            Z = self.parameters[f"W{l}"] @ A + self.parameters[f"b{l}"]  # (n_l, m)
            A = np.maximum(Z, 0) if l < self.L else 1 / (1 + np.exp(-Z))
        return A[0]

    async def predict(self, payload: InferRequest, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> InferResponse:
        x = payload.inputs[0].as_numpy()
        p = self.forward(x.reshape(len(x), -1).T.astype(np.float64))  # (N,)
        probability = InferOutput(name="probability", shape=[len(p), 1], datatype="FP32")
        probability.set_data_from_numpy(p.astype(np.float32).reshape(-1, 1), binary_data=False)
        label = InferOutput(name="label", shape=[len(p)], datatype="BYTES")
        label.set_data_from_numpy(LABELS[(p > 0.5).astype(int)], binary_data=False)
        return InferResponse(model_name=self.name, infer_outputs=[probability, label],
                             response_id=payload.id or str(uuid.uuid4()),  # its own answer needs a string
                             use_binary_outputs=payload.use_binary_outputs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve_server.parser])
    parser.add_argument("--params", required=True, help="the .npz of W1, b1, ...")
    args, _ = parser.parse_known_args()
    server = ModelServer(http_port=int(args.http_port), workers=int(args.workers), enable_grpc=False,
                         enable_latency_logging=False)
    # no log line per request, as the service is measured (CATSVC_LOG_LEVEL=warning)
    for name in ("uvicorn.access", "kserve.trace"):
        logging.getLogger(name).setLevel(logging.WARNING)
    server.start([CatVNonCat(args.model_name, args.params)])
