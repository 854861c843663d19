"""The metadata schema: every field's type, bounds and allowed values; unknown fields
refused; every error names the field and never quotes the value."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_core import ParameterFileError, TrainConfig, build_metadata, load_parameters, save_parameters
from model_core.metadata import FIELDS, check_metadata

DIMS = [12288, 3, 1]
HOSTILE = "<b>x</b>"


def params() -> dict[str, np.ndarray]:
    rng = np.random.RandomState(0)
    return {"W1": rng.randn(3, 12288) * 0.01, "b1": np.zeros((3, 1)), "W2": rng.randn(1, 3), "b2": np.zeros((1, 1))}


def npz_with(meta: object) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **params(), __metadata__=np.array(json.dumps(meta)))
    return buf.getvalue()


# each: a record that must be refused, and the field the error must name
BAD = [
    ({"layer_dims": 12288}, "layer_dims"),
    ({"layer_dims": [12288, 4, 1]}, "layer_dims"),
    ({"layer_dims": [12288, 3.0, 1]}, "layer_dims"),
    ({"hidden_activation": ["relu"]}, "hidden_activation"),
    ({"hidden_activation": HOSTILE}, "hidden_activation"),
    ({"output_activation": "softmax"}, "output_activation"),
    ({"input_norm": {"a": 1}}, "input_norm"),
    ({"created_at": 1733000000}, "created_at"),
    ({"created_at": "yesterday"}, "created_at"),
    ({"metrics": "0.9"}, "metrics"),
    ({"metrics": {"acc": [0.9]}}, "metrics"),
    ({"metrics": {"acc": float("inf")}}, "metrics"),
    ({"costs": [[0, "x"]]}, "costs"),
    ({"costs": {"0": 0.7}}, "costs"),
    ({"config": [1, 2]}, "config"),
    ({"data_sha256": "abc"}, "data_sha256"),
    ({"train_seconds": -1}, "train_seconds"),
    ({"source": {"kind": {"nested": True}}}, "source"),
    ({"dataset": {"name": "x" * 2000}}, "dataset"),
    ({"format": 7}, "format"),
]


@pytest.mark.parametrize(("meta", "field"), BAD, ids=[f for _, f in BAD])
def test_wrong_fields_are_refused_by_name(meta: dict, field: str) -> None:
    for check in (lambda: check_metadata(meta, DIMS), lambda: load_parameters(npz_with(meta))):
        with pytest.raises(ParameterFileError) as caught:
            check()
        assert caught.value.field == field
        assert f"field {field}" in str(caught.value)
        assert HOSTILE not in str(caught.value) and "1733000000" not in str(caught.value)


def test_unknown_fields_are_refused_without_their_names() -> None:
    with pytest.raises(ParameterFileError, match="1 field\\(s\\) the format does not define") as caught:
        load_parameters(npz_with({HOSTILE: 1}))
    assert HOSTILE not in str(caught.value)


def test_not_an_object() -> None:
    for meta in ([], "x", 3, None):
        with pytest.raises(ParameterFileError, match="JSON object"):
            load_parameters(npz_with(meta))


def test_what_build_metadata_writes_is_valid_and_round_trips(tmp_path) -> None:
    config = TrainConfig(layer_dims=tuple(DIMS), iterations=3)
    meta = build_metadata(config, {"costs": [(0, 0.69)], "seconds": 0.1, "engine": "dense"},
                          data_sha256="0" * 64, metrics={"train_accuracy": 0.5, "dev_set": None},
                          dataset={"name": "synthetic", "synthetic": True, "m": 3}, source={"kind": "job"})
    assert set(meta) <= set(FIELDS)
    save_parameters(tmp_path / "m.npz", params(), meta)
    _, loaded = load_parameters(tmp_path / "m.npz")
    assert loaded["metrics"] == {"train_accuracy": 0.5, "dev_set": None}
    assert loaded["output_activation"] == "sigmoid" and loaded["layer_dims"] == DIMS


def test_writers_refuse_what_readers_would(tmp_path) -> None:
    with pytest.raises(ParameterFileError, match="field output_activation"):
        save_parameters(tmp_path / "m.npz", params(), {"output_activation": "softmax"})
    assert not (tmp_path / "m.npz").exists()


def test_course_files_get_the_course_defaults() -> None:
    buf = io.BytesIO()
    np.savez(buf, **params())
    _, meta = load_parameters(buf.getvalue())
    assert meta == {"format": "course", "layer_dims": DIMS, "hidden_activation": "relu",
                    "output_activation": "sigmoid", "input_norm": "scale"}


# The schema's checks are built once, at import (FIELDS); these pin the builders themselves.
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=5))


@given(v=scalars)
def test_an_optional_field_takes_null_or_what_its_check_takes(v) -> None:
    from model_core.metadata import _optional

    assert _optional(lambda x: isinstance(x, str))(v) is (v is None or isinstance(v, str))
    assert _optional(lambda x: x is None and False)(v) is (v is None)  # None never reaches the check


@given(v=st.one_of(scalars, st.sampled_from(["relu", "tanh"]), st.lists(st.just("relu"), max_size=2)))
def test_a_one_of_field_takes_only_its_strings(v) -> None:
    from model_core.metadata import _one_of

    assert _one_of(("relu", "tanh"))(v) is (isinstance(v, str) and v in ("relu", "tanh"))


def test_costs_are_bounded_at_max_costs_pairs_inclusive() -> None:
    from model_core.metadata import MAX_COSTS

    costs = [[i, 0.5] for i in range(MAX_COSTS)]
    assert check_metadata({"costs": costs}, DIMS)["costs"] is costs
    with pytest.raises(ParameterFileError) as caught:
        check_metadata({"costs": costs + [[MAX_COSTS, 0.5]]}, DIMS)
    assert caught.value.field == "costs"


def _config_with(**fields) -> dict:
    return {**TrainConfig(layer_dims=tuple(DIMS)).to_dict(), **fields}


def test_an_object_field_is_bounded_in_keys_and_key_length_inclusive() -> None:
    from model_core.metadata import MAX_KEYS

    many = {f"k{i}": i for i in range(MAX_KEYS)}
    assert check_metadata({"config": many}, DIMS)["config"] == many
    for config in ({**many, "one_more": 1}, _config_with(**{"x" * 101: 1})):
        with pytest.raises(ParameterFileError) as caught:
            check_metadata({"config": config}, DIMS)
        assert caught.value.field == "config"
    assert "x" * 100 in check_metadata({"config": _config_with(**{"x" * 100: 1})}, DIMS)["config"]


@pytest.mark.parametrize("value", [{"nested": 1}, [1.5], [0], float("nan"), "x" * 1001])
def test_a_config_field_is_a_scalar_or_an_integer_list(value) -> None:
    with pytest.raises(ParameterFileError) as caught:
        check_metadata({"config": _config_with(note=value)}, DIMS)
    assert caught.value.field == "config"
    assert check_metadata({"config": _config_with(note=[3, 1])}, DIMS)["config"]["note"] == [3, 1]


@pytest.mark.parametrize("field,value", [
    ("metrics", {"acc": 2**63}),
    ("metrics", {"acc": -(2**63) - 1}),
    ("costs", [[2**64, 0.5]]),
    ("config", {"note": 10**400}),  # math.isfinite cannot convert it: an OverflowError, once a 500
    ("config", {"note": [2**63]}),
])
def test_an_integer_past_64_bits_is_refused_by_name(field: str, value: object) -> None:
    # JSON writers of 64-bit integers (the service's orjson) could not send it back
    meta = {field: {**_config_with(), **value} if isinstance(value, dict) and field == "config" else value}
    for check in (lambda: check_metadata(meta, DIMS), lambda: load_parameters(npz_with(meta))):
        with pytest.raises(ParameterFileError) as caught:
            check()
        assert caught.value.field == field
    edge = {"acc": 2**63 - 1, "low": -(2**63)}
    assert check_metadata({"metrics": edge}, DIMS)["metrics"] == edge
