""".npy headers checked before numpy allocates what they declare.

``np.load`` allocates each array from the shape in its .npy header before it reads a byte
of it, so a few hundred bytes can ask for terabytes (a MemoryError). Every reader of an
uploaded .npz (data sets, parameter files) checks each member's header against the bytes
the member holds first. Messages name no array: the names are the file's content.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import IO

import numpy as np

from .errors import ModelCoreError

__all__ = ["NPY_VERSIONS", "check_npy_header"]

# the .npy versions whose header numpy reads publicly; np.load reads 3.0 too, unchecked here
NPY_VERSIONS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
# what numpy raises for a header it cannot parse: left to np.load, which names the problem
_MALFORMED = (ValueError, TypeError, SyntaxError, EOFError, OverflowError)


def check_npy_header(member: IO[bytes], size: int, error: Callable[[str], ModelCoreError]) -> None:
    """Refuse an .npy (read from ``member``'s position) whose header asks for more than the
    ``size`` bytes its file holds, or whose version this cannot check.

    A malformed header passes: np.load refuses it and says so. ``error`` makes the caller's
    exception (a DataError, a ParameterFileError) from a message.
    """
    # (the caller's error is a ValueError too: raised outside the try blocks)
    try:
        version = np.lib.format.read_magic(member)
    except _MALFORMED:
        return
    if version not in NPY_VERSIONS:
        raise error("an array uses an unsupported .npy version; save the file with numpy.savez")
    try:
        shape, _, dtype = NPY_VERSIONS[version](member)
    except _MALFORMED:
        return
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize  # object: no int64 overflow
    if nbytes > size:
        raise error("an array declares more data than its file holds; the file is corrupt or forged")
