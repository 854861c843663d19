"""The metadata record saved with every parameter file, and the one schema every reader
checks it against.

A record comes from this package (:func:`model_core.model.build_metadata`), from a
service that adds where the model came from, or from anyone's upload. So every field
has a type, a size bound and, where it drives computation, an allowed set; fields the
format does not define are refused (a reader must never meet a field it does not
know). A :class:`ParameterFileError` names the field and the rule, never the value.
"""
from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Callable
from typing import Any

from .activations import HIDDEN_ACTIVATIONS
from .architecture import Spec, check_architecture
from .architecture import layer_dims as architecture_dims
from .augment import TTAS
from .errors import ConfigError, ParameterFileError
from .normalization import INPUT_NORMS

__all__ = [
    "Check",
    "DEFAULTS",
    "FIELDS",
    "INT_RANGE",
    "MAX_COSTS",
    "MAX_KEYS",
    "MAX_METADATA_BYTES",
    "MAX_STRING",
    "OUTPUT_ACTIVATIONS",
    "architecture_of",
    "check_metadata",
]

MAX_METADATA_BYTES = 4 << 20  # the JSON text; a 10-million-iteration run's costs take ~2 MB
MAX_STRING = 1000  # characters of one string
INT_RANGE = (-(2**63), 2**63 - 1)  # an integer anywhere in the metadata
MAX_KEYS = 100  # fields of one nested object (metrics, dataset, source, config)
MAX_COSTS = 200_000  # [iteration, cost] pairs
OUTPUT_ACTIVATIONS = ("sigmoid",)  # the only output this package computes

Check = Callable[[Any], bool]


def _is_str(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= MAX_STRING


def _is_int(v: Any) -> bool:
    # what JSON writers of 64-bit integers take back (orjson among them); and math.isfinite
    # cannot even convert a larger one to float
    return type(v) is int and INT_RANGE[0] <= v <= INT_RANGE[1]


def _is_number(v: Any) -> bool:
    return _is_int(v) or (type(v) is float and math.isfinite(v))


def _is_scalar(v: Any) -> bool:
    return v is None or type(v) is bool or _is_number(v) or _is_str(v)


def _optional(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _one_of(allowed: tuple[str, ...]) -> Check:
    return lambda v: isinstance(v, str) and v in allowed


def _object_of(value_check: Check) -> Check:
    def check(v: Any) -> bool:
        return (isinstance(v, dict) and len(v) <= MAX_KEYS
                and all(_is_str(k) and len(k) <= 100 and value_check(x) for k, x in v.items()))
    return check


def _is_int_list(v: Any) -> bool:
    return isinstance(v, list) and 0 < len(v) <= 1000 and all(_is_int(n) and n > 0 for n in v)


def _is_costs(v: Any) -> bool:
    return isinstance(v, list) and len(v) <= MAX_COSTS and all(
        isinstance(p, list) and len(p) == 2 and _is_int(p[0]) and _is_number(p[1]) for p in v)


def _is_architecture(v: Any) -> bool:
    try:
        check_architecture(v)
    except ConfigError:
        return False
    return True


def _is_config(v: Any) -> bool:
    """A TrainConfig's fields: scalars and integer lists, and an architecture under its key."""
    return _object_of(lambda x: _is_scalar(x) or _is_int_list(x))(
        {k: x for k, x in v.items() if k != "architecture"} if isinstance(v, dict) else v
    ) and (not isinstance(v, dict) or v.get("architecture") is None or _is_architecture(v["architecture"]))


def _is_timestamp(v: Any) -> bool:
    if not _is_str(v):
        return False
    try:
        _dt.datetime.fromisoformat(v)
    except ValueError:
        return False
    return True


def _is_sha256(v: Any) -> bool:
    return isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) is not None


# field -> (check, what the field must be), in the order build_metadata writes them
FIELDS: dict[str, tuple[Check, str]] = {
    "format": (_is_str, f"a string of at most {MAX_STRING} characters"),
    "layer_dims": (_is_int_list, "a list of positive integers [n_x, n_1, ..., 1] matching the arrays"),
    "hidden_activation": (_one_of(HIDDEN_ACTIVATIONS), f"one of {', '.join(HIDDEN_ACTIVATIONS)}"),
    "output_activation": (_one_of(OUTPUT_ACTIVATIONS), "sigmoid (the only output model_core computes)"),
    "input_norm": (_one_of(INPUT_NORMS), f"one of {', '.join(INPUT_NORMS)}"),
    "config": (_optional(_is_config),
               "an object of training fields (numbers, strings, booleans, null, integer lists, an "
               "architecture) or null"),
    "metrics": (_optional(_object_of(_is_scalar)), "an object of numbers, strings, booleans or null, or null"),
    "costs": (_is_costs, f"a list of at most {MAX_COSTS} [iteration, cost] pairs (an integer, a finite number)"),
    "engine": (_optional(_is_str), "a string or null"),
    "train_seconds": (_optional(lambda v: _is_number(v) and v >= 0), "a non-negative number or null"),
    "data_sha256": (_optional(_is_sha256), "64 lowercase hex digits or null"),
    "created_at": (_optional(_is_timestamp), "an ISO 8601 timestamp (e.g. 2026-12-01T21:00:00+00:00) or null"),
    "model_core_version": (_optional(_is_str), "a string or null"),
    "dataset": (_optional(_object_of(_is_scalar)), "an object of numbers, strings, booleans or null, or null"),
    "source": (_optional(_object_of(_is_scalar)), "an object of numbers, strings, booleans or null, or null"),
    # a network of layers (architecture.py); absent or null: the course's fully connected net
    "architecture": (_optional(_is_architecture), "a list of layer specs (model_core/architecture.py) or null"),
    "tta": (_optional(_one_of(TTAS)), f"one of {', '.join(TTAS)}, or null"),
    "recipe": (_optional(_is_str), f"a string of at most {MAX_STRING} characters or null"),
}
DEFAULTS = {"hidden_activation": "relu", "output_activation": "sigmoid", "input_norm": "scale"}


def check_metadata(meta: Any, layer_dims: list[int] | None = None) -> dict[str, Any]:
    """``meta`` (a JSON-decoded record) validated; returned with the defaults filled in.

    ``layer_dims`` are the arrays' own, which the record must match (None: the record's
    are only checked for their form). Raises ParameterFileError naming the field.
    """
    if not isinstance(meta, dict):
        raise ParameterFileError("the metadata must be a JSON object")
    unknown = [k for k in meta if k not in FIELDS]
    if unknown:
        # counted, not named: a key is the file's content
        raise ParameterFileError(
            f"the metadata has {len(unknown)} field(s) the format does not define; it defines "
            f"{', '.join(FIELDS)}", field="metadata")
    record = {**DEFAULTS, **meta}
    specs = architecture_of(record)
    if specs is not None:
        record["architecture"] = specs
        record.setdefault("layer_dims", architecture_dims(specs))
    if layer_dims is not None:
        record.setdefault("layer_dims", layer_dims)
    for field, value in record.items():
        check, rule = FIELDS[field]
        if not check(value):
            raise ParameterFileError(f"metadata field {field} must be {rule}", field=field)
    if specs is not None and record["layer_dims"] != architecture_dims(specs):
        raise ParameterFileError("metadata field layer_dims does not match the architecture", field="layer_dims")
    if layer_dims is not None and record["layer_dims"] != layer_dims:
        raise ParameterFileError(
            f"metadata field layer_dims does not match the arrays, which have {layer_dims}", field="layer_dims")
    if "layer_dims" not in record:
        raise ParameterFileError("metadata field layer_dims is missing", field="layer_dims")
    if record.get("tta") == "flip" and specs is None and record["layer_dims"][0] != 64 * 64 * 3:
        # a fully connected net can mirror only what it knows to be a 64x64x3 image
        raise ParameterFileError("metadata field tta flip needs an architecture or 64x64x3 images "
                                 "(layer_dims[0] = 12288)", field="tta")
    return record


def architecture_of(meta: Any) -> list[Spec] | None:
    """The record's architecture, checked and completed; None for the course's net.

    Raises ParameterFileError naming the field, with the rule (a layer index, never a value).
    """
    if not isinstance(meta, dict) or meta.get("architecture") is None:
        return None
    try:
        return check_architecture(meta["architecture"])
    except ConfigError as e:
        raise ParameterFileError(f"metadata field architecture must be a list of layer specs: {e.reason}",
                                 field="architecture", limit=e.limit, value=e.value, actual=e.actual) from None
