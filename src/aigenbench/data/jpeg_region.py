"""libjpeg-turbo's partial JPEG decoding (TurboJPEG 3: ``tj3SetCroppingRegion``), through ctypes.

OpenCV decodes a whole JPEG; crop-if-large then keeps at most 1080 x 1080 of it (7% of a 16-MP
camera photo). libjpeg-turbo can decode a region instead: it still reads the entropy-coded data of
the rows above and beside the region, but skips their inverse DCT, upsampling and colour
conversion, which are most of the work. The library is the one the ``turbojpeg`` wheel ships
(``pip install turbojpeg``; its own Python functions have no cropping region, so we call the C API),
else a system ``libturbojpeg`` of version 3 or later; without either, :func:`available` is False and
callers decode with OpenCV as before.

Exactness: libjpeg-turbo's region decode equals its full decode on the region's inside, and its full
decode equals OpenCV's (both are libjpeg-turbo with the same defaults: accurate integer IDCT,
smooth "fancy" upsampling). At the region's edges the upsampling sees a neighbour the region lacks,
so :func:`decode` decodes a margin of two iMCUs (16-64 pixels) around the region and cuts it off;
the tests compare region and full decodes on every subsampling, odd sizes, progressive files and
every region position. Anything unusual (not 8-bit, lossless, CMYK/YCCK/RGB colour spaces, unknown
subsampling) or any warning or error from the library returns None: the caller then decodes the
whole image the usual way, so a damaged file fails (or not) exactly as it did before. One
difference remains: damage that lies wholly below the region of a single-scan JPEG is never read
(libjpeg-turbo stops after the region's last row), where the full decode warned, filled the damaged
rows and went on; the region's pixels are the same either way (``aigenbench data check`` still
decodes every image whole).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from functools import cache

import numpy as np

from aigenbench.data.native import checked_region, library_candidates

_TJINIT_COMPRESS, _TJINIT_DECOMPRESS = 0, 1
_TJPARAM_QUALITY = 3
_TJSAMP_420 = 2
_TJPF_RGB = 0
_TJPARAM_SUBSAMP = 4
_TJPARAM_JPEGWIDTH = 5
_TJPARAM_JPEGHEIGHT = 6
_TJPARAM_PRECISION = 7
_TJPARAM_COLORSPACE = 8
_TJPARAM_LOSSLESS = 15
_TJCS_YCBCR, _TJCS_GRAY = 1, 2
_MCU_WIDTH = (8, 16, 16, 8, 8, 32, 8)
"""iMCU width of each TurboJPEG subsampling (444, 422, 420, gray, 440, 411, 441)."""
_MCU_HEIGHT = (8, 8, 16, 8, 16, 8, 32)


class _Region(ctypes.Structure):
    _fields_ = [
        ("x", ctypes.c_int),
        ("y", ctypes.c_int),
        ("w", ctypes.c_int),
        ("h", ctypes.c_int),
    ]


def _candidates() -> list[str]:
    return library_candidates("turbojpeg", ("turbojpeg.libs/libturbojpeg*",), "turbojpeg")


@cache
def _library() -> ctypes.CDLL | None:
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            lib.tj3Init.restype = ctypes.c_void_p
        except (OSError, AttributeError):  # not loadable, or a TurboJPEG 2 library
            continue
        lib.tj3Init.argtypes = [ctypes.c_int]
        lib.tj3Destroy.argtypes = [ctypes.c_void_p]
        lib.tj3DecompressHeader.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.tj3Get.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.tj3SetCroppingRegion.argtypes = [ctypes.c_void_p, _Region]
        lib.tj3Set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        lib.tj3Compress8.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.POINTER(ctypes.c_size_t),
        ]
        lib.tj3Free.argtypes = [ctypes.c_void_p]
        lib.tj3Decompress8.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
        ]
        return lib
    return None


_local = threading.local()
"""One decompressor per thread and process (a TurboJPEG handle is not thread-safe, and loader
workers are forked: a handle is never shared)."""


def _handle(lib: ctypes.CDLL, kind: int = _TJINIT_DECOMPRESS) -> int | None:
    owner = (os.getpid(), threading.get_ident())
    if getattr(_local, "owner", None) != owner:
        _local.handles = {}
        _local.owner = owner
    if kind not in _local.handles:
        _local.handles[kind] = lib.tj3Init(kind) or None
    return _local.handles[kind]


def available() -> bool:
    """True when a TurboJPEG 3 library was found (region decoding is possible)."""
    return _library() is not None


def decode(data: bytes, region: tuple[int, int, int, int] | None = None) -> np.ndarray | None:
    """The RGB ``uint8`` pixels of ``region = (top, left, height, width)`` of the JPEG ``data``
    (stored orientation; None: the whole image), or None when this decoder does not take the file
    (see the module doc: the caller then decodes the usual way)."""
    lib = _library()
    if lib is None:
        return None
    handle = _handle(lib)
    if handle is None or lib.tj3DecompressHeader(handle, data, len(data)) != 0:
        return None
    subsampling = lib.tj3Get(handle, _TJPARAM_SUBSAMP)
    if (
        lib.tj3Get(handle, _TJPARAM_PRECISION) != 8
        or lib.tj3Get(handle, _TJPARAM_LOSSLESS) != 0
        or lib.tj3Get(handle, _TJPARAM_COLORSPACE) not in (_TJCS_YCBCR, _TJCS_GRAY)
        or not 0 <= subsampling < len(_MCU_WIDTH)
    ):
        return None
    width = lib.tj3Get(handle, _TJPARAM_JPEGWIDTH)
    height = lib.tj3Get(handle, _TJPARAM_JPEGHEIGHT)
    box = checked_region(region, height, width)
    if box is None:
        return None
    top, left, crop_h, crop_w = box
    # The decoded area: the region plus two iMCUs of margin, its left edge on an iMCU boundary
    # (libjpeg-turbo's requirement). Without the left and right margins the region's edge columns
    # differ from the full decode (the tests show it); the top and bottom ones cost two iMCU rows
    # and guard the same way against the upsampling's context rows.
    mcu_w, mcu_h = _MCU_WIDTH[subsampling], _MCU_HEIGHT[subsampling]
    x0 = max(0, (left // mcu_w - 2) * mcu_w)
    y0 = max(0, (top // mcu_h - 2) * mcu_h)
    x1 = min(width, left + crop_w + 2 * mcu_w)
    y1 = min(height, top + crop_h + 2 * mcu_h)
    whole = (x0, y0, x1, y1) == (0, 0, width, height)
    area = _Region(0, 0, 0, 0) if whole else _Region(x0, y0, x1 - x0, y1 - y0)  # 0s: uncropped
    if lib.tj3SetCroppingRegion(handle, area) != 0:
        return None
    out = np.empty((y1 - y0, x1 - x0, 3), dtype=np.uint8)
    pitch = out.shape[1] * 3
    status = lib.tj3Decompress8(handle, data, len(data), out.ctypes.data, pitch, _TJPF_RGB)
    if status != 0:  # an error or a warning (e.g. corrupt data): the usual decoder decides
        return None
    return out[top - y0 : top - y0 + crop_h, left - x0 : left - x0 + crop_w]


def compress_decompress(image: np.ndarray, quality: int) -> np.ndarray | None:
    """``image`` (RGB ``uint8`` ``[H, W, 3]``) JPEG-compressed at ``quality`` (1-100) and decoded
    back, or None without the library (or on any error): the caller then encodes the usual way.

    OpenCV's and Pillow's JPEG encoders are libjpeg-turbo with the same settings (quality-scaled
    standard tables, 4:2:0, accurate integer DCT, no optimised Huffman tables); TurboJPEG's
    compressor too, and it reads RGB directly (OpenCV needs a BGR copy first, Pillow an image
    object), so the decoded pixels are theirs. The tests compare them, every quality."""
    lib = _library()
    height, width = image.shape[:2]
    if lib is None or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        return None
    handle = _handle(lib, _TJINIT_COMPRESS)
    if handle is None:
        return None
    image = np.ascontiguousarray(image)
    if lib.tj3Set(handle, _TJPARAM_QUALITY, quality) or lib.tj3Set(
        handle, _TJPARAM_SUBSAMP, _TJSAMP_420
    ):
        return None
    buffer, size = ctypes.c_void_p(), ctypes.c_size_t()
    status = lib.tj3Compress8(
        handle,
        image.ctypes.data,
        width,
        width * 3,
        height,
        _TJPF_RGB,
        ctypes.byref(buffer),
        ctypes.byref(size),
    )
    try:
        if status != 0 or not buffer.value:
            return None
        data = ctypes.string_at(buffer.value, size.value)
    finally:
        lib.tj3Free(buffer)
    return decode(data)
