"""8-bit PNGs through libspng (``pyspng``), RGB out, decoding no row below a region.

PNG rows are compressed and filtered top to bottom, each from the one above: a region's rows
cannot be decoded without the rows above it, but the rows below it are never needed. So
:func:`decode` hands libspng the same bytes with one change: the header's height is the region's
last row + 1 (and the header's checksum recomputed). libspng then inflates and unfilters those
rows only and stops; the rows it returns are the first rows of the full image, bit for bit, by
construction (the same bytes, the same decoder, read in the same order). A 2048 x 2048 PNG kept by
crop-if-large at its central 1080 x 1080 costs about 85% of a full decode instead of 100%
(``pyspng.load`` is one call; libspng's row-by-row API costs more in calls than it saves).

libspng converts to RGB itself (alpha dropped, gray replicated): the pixels OpenCV gives, which
the tests check on RGB, RGBA, gray and gray + alpha PNGs at every region position. Anything else
(not 8 bits, palette, interlaced: Adam7 passes span all rows), or any error, returns None: the
caller then decodes the whole image the usual way, which decides whether a damaged file is
refused. As for JPEG and WebP, damage below the region is not read.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from aigenbench.data.native import checked_region

try:
    import pyspng as _spng
except ImportError:  # optional speed-up: OpenCV decodes PNGs without it
    _spng = None

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = (0, 2, 4, 6)
"""Gray, RGB, gray + alpha, RGBA: the 8-bit types whose RGB output is the usual pixels."""


def available() -> bool:
    """True when libspng (``pyspng``) is installed."""
    return _spng is not None


def decode(data: bytes, region: tuple[int, int, int, int] | None = None) -> np.ndarray | None:
    """The RGB ``uint8`` pixels of ``region = (top, left, height, width)`` of the PNG ``data``
    (None: the whole image), decoding no row below it; None when this decoder does not take the
    file (see the module doc: the caller then decodes the usual way)."""
    # The header: signature, then the IHDR chunk (length 13) at bytes 8-32.
    if _spng is None or len(data) < 33 or data[:8] != _SIGNATURE or data[12:16] != b"IHDR":
        return None
    width, height, depth, color_type = struct.unpack(">IIBB", data[16:26])
    if depth != 8 or color_type not in _COLOR_TYPES or data[28] != 0:  # data[28]: interlace
        return None
    box = checked_region(region, height, width)
    if box is None:
        return None
    top, left, crop_h, crop_w = box
    rows = top + crop_h
    if rows < height:
        header = data[12:20] + struct.pack(">I", rows) + data[24:29]
        data = data[:12] + header + struct.pack(">I", zlib.crc32(header)) + data[33:]
    try:
        array = _spng.load(data, "RGB")
    except Exception:  # libspng's errors: the usual decoder gives the verdict
        return None
    if array.dtype != np.uint8 or array.shape != (rows, width, 3):
        return None
    return array[top:, left : left + crop_w]
