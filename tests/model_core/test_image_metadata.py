"""Metadata bombs are refused before Pillow copies anything, and the EXIF orientation is
still applied, read by model_core's own bounded reader.

The bombs run in a child process under an address-space cap (RLIMIT_AS): a regression
fails the test with a MemoryError there, instead of taking this machine's memory.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from model_core import image_to_vector
from model_core.image_metadata import MAX_IFD_ENTRIES, ImageMetadataError, exif_orientation
from tests.metadata_bombs import BOMBS, png_with_exif, tiff_block

ROOT = Path(__file__).resolve().parents[2]
CAP = 1536 << 20  # address space of the child: numpy and Pillow fit, a bomb does not
GROWTH_BOUND_MB = 100  # the issue's goal: no file raises a reader's peak memory by more

CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
from model_core import image_to_vector
from tests.metadata_bombs import BOMBS

def mb(key):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key)) // 1024

data = BOMBS[sys.argv[1]]()
before = mb("VmRSS")
try:
    image_to_vector(data)
    outcome = "decoded"
except Exception as e:
    outcome = type(e).__name__ + ": " + str(e)
print(json.dumps({{"outcome": outcome, "growth_mb": mb("VmHWM") - before}}))
"""


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bombs_are_refused_within_the_memory_bound(name: str) -> None:
    done = subprocess.run([sys.executable, "-c", CHILD.format(cap=CAP), name], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["outcome"].startswith("ImageMetadataError: "), result
    assert "strip the metadata" in result["outcome"]
    assert result["growth_mb"] < GROWTH_BOUND_MB, result


def picture() -> np.ndarray:
    """A 48x32 picture that is different under every flip and rotation."""
    rng = np.random.RandomState(3)
    return rng.randint(0, 256, size=(32, 48, 3)).astype(np.uint8)


def encoded(fmt: str, orientation: int | None, extra_tags: int = 0) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    for i in range(extra_tags):  # a camera's worth of ordinary tags
        exif[0x9000 + i] = f"value {i}"
    buf = io.BytesIO()
    options = {"tiffinfo": {0x0112: orientation}} if fmt == "TIFF" and orientation else {"exif": exif}
    Image.fromarray(picture()).save(buf, fmt, **({} if fmt == "TIFF" and not orientation else options),
                                    **({"quality": 100} if fmt == "JPEG" else {}))
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_is_applied_as_pillow_would(fmt: str, orientation: int) -> None:
    data = encoded(fmt, orientation, extra_tags=40 if fmt != "TIFF" else 0)
    with Image.open(io.BytesIO(data)) as img:
        expected = np.asarray(ImageOps.exif_transpose(img).convert("RGB").resize((64, 64), Image.Resampling.LANCZOS))
    got = image_to_vector(data).reshape(64, 64, 3)
    # lossy formats differ by rounding only; a wrong rotation differs by far more
    assert np.abs(got.astype(int) - expected.astype(int)).mean() < 2.0


def test_exif_orientation_reads_only_the_first_directory() -> None:
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        raw = exif.tobytes()  # with the b"Exif\0\0" header, as in a JPEG's APP1
        assert raw.startswith(b"Exif\x00\x00")
        assert exif_orientation(raw) == orientation
        assert exif_orientation(raw[6:]) == orientation  # a bare TIFF block, as in PNG's eXIf
    assert exif_orientation(b"") is None
    assert exif_orientation(b"Exif\x00\x00garbage") is None
    assert exif_orientation(tiff_block(3, 16)) is None  # no orientation tag
    # a bomb's directory is not parsed past the bound, and nothing is copied
    assert exif_orientation(tiff_block(60_000, 1 << 20)) is None


def test_the_bounds_leave_honest_metadata_alone() -> None:
    ordinary = png_with_exif(tags=200, block=4096)  # 200 tags sharing 4 KB: 800 KB of copies
    assert image_to_vector(ordinary).shape == (12288,)
    with pytest.raises(ImageMetadataError, match=f"above the bound of {MAX_IFD_ENTRIES}"):
        image_to_vector(png_with_exif(tags=MAX_IFD_ENTRIES + 1, block=16))
