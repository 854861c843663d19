"""check_npy_header: a header may declare at most the bytes its member holds (issue 15's
mutation run). Headers are written by numpy itself; only the bytes after them lie."""
from __future__ import annotations

import io

import numpy as np
import pytest

from model_core import ParameterFileError
from model_core.npyfile import check_npy_header

TOO_MUCH = "an array declares more data than its file holds; the file is corrupt or forged"


def _header(shape: tuple[int, ...], dtype: str = "<f8", version: tuple[int, int] = (1, 0)) -> bytes:
    buf = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buf, header)
    else:
        np.lib.format.write_array_header_2_0(buf, header)
    return buf.getvalue()


def _check(member: bytes) -> None:
    check_npy_header(io.BytesIO(member), len(member), ParameterFileError)


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
@pytest.mark.parametrize("dtype", ["<f8", "<f4", "|u1"])
def test_the_bound_is_the_member_size_inclusive(version: tuple[int, int], dtype: str) -> None:
    """A header may declare as many bytes as its whole member holds (header included: a
    loose bound, np.load finds such data short and says so), not one item more."""
    itemsize = np.dtype(dtype).itemsize
    head = len(_header((1,), dtype, version))
    for extra in (1, 7, 100):
        k = -(-head // itemsize) + extra  # elements whose bytes, k * itemsize, cover the header
        member = _header((k,), dtype, version)
        member += b"\0" * (k * itemsize - len(member))
        assert len(member) == k * itemsize
        _check(member)  # declared == held: passes
        over = _header((k + 1,), dtype, version) + member[head:]
        assert len(over) == len(member)
        with pytest.raises(ParameterFileError) as caught:
            _check(over)
        assert str(caught.value) == TOO_MUCH


def test_a_shape_whose_product_overflows_int64_is_refused() -> None:
    """2^32 x 2^32 elements: in int64 arithmetic the product wraps to 0, which would fit."""
    member = _header((2**32, 2**32)) + b"\0" * 64
    with pytest.raises(ParameterFileError) as caught:
        _check(member)
    assert str(caught.value) == TOO_MUCH
    assert int(np.prod((2**32, 2**32))) == 0  # the wrap the check must not fall into


def test_the_declared_bytes_are_elements_times_itemsize() -> None:
    """100 float64 need 800 bytes: a member of 300 holds 37 of them, not 100 (nor 2400)."""
    member = _header((100,)) + b"\0" * (300 - len(_header((100,))))
    with pytest.raises(ParameterFileError, match="declares more data"):
        _check(member)
    _check(_header((30,)) + b"\0" * 240)


def test_an_unsupported_version_is_refused_with_its_message() -> None:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.zeros((1, 1)), version=(3, 0))
    with pytest.raises(ParameterFileError) as caught:
        _check(buf.getvalue())
    assert str(caught.value) == "an array uses an unsupported .npy version; save the file with numpy.savez"
