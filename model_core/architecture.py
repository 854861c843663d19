"""Architectures: a network as a list of layer specs, validated, with its shapes inferred.

A spec is a JSON object with a ``type``; :func:`check_architecture` fills in the
defaults, so the stored form is complete::

    {"type": "input", "n_H": 64, "n_W": 64, "n_C": 3}       first, and only first
    {"type": "conv2d", "n_C": 16, "f": 3, "stride": 1, "pad": 1, "activation": "relu"}
    {"type": "max_pool", "f": 2, "stride": 2}                  also avg_pool
    {"type": "global_avg_pool"}                                (m, n_H, n_W, n_C) -> (n_C, m)
    {"type": "flatten"}                                        (m, n_H, n_W, n_C) -> (n_H n_W n_C, m)
    {"type": "dropout", "keep_prob": 0.7}                      the course's inverted dropout
    {"type": "dense", "n": 1, "activation": "sigmoid"}         last: n = 1, sigmoid

Images enter as the course's columns (n_x, m) and are viewed as (m, n_H, n_W, n_C)
(the row, column, channel order of ``image.reshape(-1)``). Layers with weights
(conv2d, dense) are numbered l = 1..L in order and own ``W{l}``, ``b{l}``: a conv2d
``W`` is ``(f, f, n_C_prev, n_C)`` and ``b`` ``(1, 1, 1, n_C)`` (the course's CNN
layout), a dense ``W`` is ``(n_l, n_{l-1})`` and ``b`` ``(n_l, 1)`` (its deep-net layout).
Errors name the layer's index and the rule, never a value (a spec may come from a file).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .activations import HIDDEN_ACTIVATIONS
from .conv import output_size
from .errors import ConfigError

__all__ = [
    "FIELDS",
    "LAYER_TYPES",
    "MAX_F",
    "MAX_LAYERS",
    "MAX_SIDE",
    "MAX_UNITS",
    "MAX_WEIGHTS",
    "PARAMETRIC",
    "REQUIRED",
    "Shape",
    "Spec",
    "check_architecture",
    "layer_dims",
    "parameter_shapes",
    "shapes",
]

Spec = dict[str, Any]
Shape = tuple[int, ...]  # (n_H, n_W, n_C) for images, (n,) for columns

MAX_LAYERS = 64
MAX_SIDE = 4096  # pixels of an input side
MAX_UNITS = 4096  # filters of a conv2d, units of a dense layer, input channels
MAX_F = 15  # kernel and window side
MAX_WEIGHTS = 50_000_000  # all W and b together: 200 MB in float32
PARAMETRIC = ("conv2d", "dense")

# type -> {field: (default or REQUIRED, check, rule)}
REQUIRED = object()


def _int(low: int, high: int) -> tuple[Any, str]:
    return (lambda v: type(v) is int and low <= v <= high), f"an integer from {low} to {high}"


def _activation(allowed: tuple[str, ...]) -> tuple[Any, str]:
    return (lambda v: isinstance(v, str) and v in allowed), f"one of {', '.join(allowed)}"


_KEEP_PROB = ((lambda v: type(v) in (int, float) and math.isfinite(v) and 0 < v <= 1), "a number in (0, 1]")
FIELDS: dict[str, dict[str, tuple[Any, Any, str]]] = {
    "input": {"n_H": (REQUIRED, *_int(1, MAX_SIDE)), "n_W": (REQUIRED, *_int(1, MAX_SIDE)),
              "n_C": (REQUIRED, *_int(1, MAX_UNITS))},
    "conv2d": {"n_C": (REQUIRED, *_int(1, MAX_UNITS)), "f": (3, *_int(1, MAX_F)), "stride": (1, *_int(1, MAX_F)),
               "pad": (0, *_int(0, MAX_F)), "activation": ("relu", *_activation(HIDDEN_ACTIVATIONS))},
    "max_pool": {"f": (2, *_int(1, MAX_F)), "stride": (2, *_int(1, MAX_F))},
    "avg_pool": {"f": (2, *_int(1, MAX_F)), "stride": (2, *_int(1, MAX_F))},
    "global_avg_pool": {},
    "flatten": {},
    "dropout": {"keep_prob": (REQUIRED, *_KEEP_PROB)},
    "dense": {"n": (REQUIRED, *_int(1, MAX_UNITS)),
              "activation": ("relu", *_activation(HIDDEN_ACTIVATIONS + ("sigmoid",)))},
}
LAYER_TYPES = tuple(FIELDS)


def _fail(i: int | None, rule: str, *, limit: str | None = None, value: int | None = None,
          actual: int | None = None) -> ConfigError:
    where = "architecture" if i is None else f"architecture[{i}]"
    return ConfigError(f"{where}: {rule}", field="architecture", limit=limit, value=value, actual=actual)


def check_architecture(specs: Any) -> list[Spec]:
    """``specs`` validated and completed with the defaults (a new list of new dicts).

    Raises ConfigError (field ``architecture``) naming the layer index and the rule; past
    MAX_LAYERS or MAX_WEIGHTS it carries that limit (``limit``, ``value``, ``actual``).
    """
    rule = f"must be a list of 2 to {MAX_LAYERS} layer specs (objects), input first"
    if not isinstance(specs, (list, tuple)) or len(specs) < 2:
        raise _fail(None, rule)
    if len(specs) > MAX_LAYERS:
        raise _fail(None, rule, limit="MAX_LAYERS", value=MAX_LAYERS, actual=len(specs))
    out: list[Spec] = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or not isinstance(spec.get("type"), str) or spec["type"] not in FIELDS:
            raise _fail(i, f"must be an object whose type is one of {', '.join(LAYER_TYPES)}")
        kind = spec["type"]
        fields = FIELDS[kind]
        if any(k not in fields and k != "type" for k in spec):
            allowed = ", ".join(fields) or "no other field"
            raise _fail(i, f"a {kind} layer takes only type and {allowed}")
        full: Spec = {"type": kind}
        for name, (default, check, rule) in fields.items():
            value = spec.get(name, default)
            if value is REQUIRED:
                raise _fail(i, f"a {kind} layer needs {name}, {rule}")
            if not check(value):
                raise _fail(i, f"{kind} {name} must be {rule}")
            full[name] = value
        out.append(full)
    shapes(out)  # the layers must fit together
    return out


def shapes(specs: Sequence[Spec]) -> list[Shape]:
    """The shape of one example after each layer, the input's first; checks that they fit."""
    if specs[0]["type"] != "input" or any(s["type"] == "input" for s in specs[1:]):
        raise _fail(0, "the first layer, and only the first, must be of type input")
    last = specs[-1]
    if last["type"] != "dense" or last["n"] != 1 or last["activation"] != "sigmoid":
        raise _fail(len(specs) - 1, "the last layer must be dense with n 1 and activation sigmoid (P(cat))")
    shape: Shape = (specs[0]["n_H"], specs[0]["n_W"], specs[0]["n_C"])
    out = [shape]
    weights = 0
    for i, spec in enumerate(specs[1:], start=1):
        kind = spec["type"]
        image = len(shape) == 3
        if kind in ("conv2d", "max_pool", "avg_pool", "global_avg_pool", "flatten") and not image:
            raise _fail(i, f"a {kind} layer needs an image (n_H, n_W, n_C) input, not a column")
        if kind == "dense" and image:
            raise _fail(i, "a dense layer needs a column: put flatten or global_avg_pool before it")
        if kind == "dense" and i < len(specs) - 1 and spec["activation"] == "sigmoid":
            raise _fail(i, "sigmoid is the output's activation; hidden dense layers take "
                        f"{', '.join(a for a in HIDDEN_ACTIVATIONS if a != 'sigmoid')}")
        if kind == "conv2d":
            n_H, n_W = (output_size(n, spec["f"], spec["stride"], spec["pad"]) for n in shape[:2])
            weights += spec["f"] ** 2 * shape[2] * spec["n_C"] + spec["n_C"]
            shape = (n_H, n_W, spec["n_C"])
        elif kind in ("max_pool", "avg_pool"):
            shape = tuple(output_size(n, spec["f"], spec["stride"], 0) for n in shape[:2]) + shape[2:]
        elif kind == "global_avg_pool":
            shape = (shape[2],)
        elif kind == "flatten":
            shape = (shape[0] * shape[1] * shape[2],)
        elif kind == "dense":
            weights += spec["n"] * (shape[0] + 1)
            shape = (spec["n"],)
        if min(shape) < 1:
            raise _fail(i, f"the {kind} window is larger than its (padded) input")
        if weights > MAX_WEIGHTS:
            # actual: the weights up to layer i, where the count passed the limit
            raise _fail(i, f"the network has more than {MAX_WEIGHTS} weights",
                        limit="MAX_WEIGHTS", value=MAX_WEIGHTS, actual=weights)
        out.append(shape)
    return out


def parameter_shapes(specs: Sequence[Spec]) -> dict[str, Shape]:
    """``{"W1": shape, "b1": shape, ...}`` for a checked architecture, in the layers' order."""
    out: dict[str, Shape] = {}
    l = 0
    for spec, prev in zip(specs[1:], shapes(specs)):
        if spec["type"] == "conv2d":
            l += 1
            out[f"W{l}"] = (spec["f"], spec["f"], prev[2], spec["n_C"])  # (f, f, n_C_prev, n_C)
            out[f"b{l}"] = (1, 1, 1, spec["n_C"])
        elif spec["type"] == "dense":
            l += 1
            out[f"W{l}"] = (spec["n"], prev[0])  # (n_l, n_{l-1})
            out[f"b{l}"] = (spec["n"], 1)
    return out


def layer_dims(specs: Sequence[Spec]) -> list[int]:
    """The architecture's ``layer_dims``: [n_x, then the filters (conv2d) or units (dense) of
    each layer with weights], so that n_x and the output's 1 mean what they do for the course."""
    first = specs[0]
    return [first["n_H"] * first["n_W"] * first["n_C"]] + [
        s["n_C"] if s["type"] == "conv2d" else s["n"] for s in specs if s["type"] in PARAMETRIC]

