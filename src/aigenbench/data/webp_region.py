"""libwebp's cropped decoding (the advanced API's ``use_cropping``), through ctypes.

A 2048 x 2048 WebP kept by crop-if-large at 1080 x 1080 needs 28% of its pixels. libwebp decodes
a cropping region natively: it stops after the macroblock row below the region and skips the loop
filter, the upsampling and the colour conversion outside it (what a lossy decode mostly spends).
The library is the one Pillow's wheel ships (``pillow.libs/libwebp*``; Pillow's own Python API has
no cropping), else a system ``libwebp``; without either, :func:`available` is False and callers
decode the usual way.

Exactness: the full decode through this module equals OpenCV's (both are libwebp, RGB out,
alpha dropped, "fancy" chroma upsampling); the tests compare them on lossy, lossless and alpha
files. libwebp's cropping is designed to give the full decode's pixels (the loop filter keeps its
dependency chain), but the chroma upsampling at the crop's edges reads neighbours the crop lacks,
so :func:`decode` decodes a margin of one macroblock (16 pixels, left and top edges even, as
libwebp requires) around the region and cuts it off; the tests compare region and full decodes
at every offset modulo 32, odd sizes, lossless and alpha files (two pixels of margin already
suffice there; the macroblock is the safe side). Animated files, or any error, return None: the
caller then decodes the whole image the usual way. libwebp conceals damaged data rather than
refusing it, in a full decode as in a cropped one; a cropped decode does not read below the
region (``aigenbench data check`` still decodes every image whole).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

import numpy as np

from aigenbench.data.native import checked_region, library_candidates

_ABI_VERSION = 0x0210
"""WEBP_DECODER_ABI_VERSION of libwebp 1.x (only its major byte must match)."""
_MODE_RGB = 0
_MARGIN = 16
"""Pixels decoded beyond each side of the region and cut off: one macroblock."""


class _Features(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("has_alpha", ctypes.c_int),
        ("has_animation", ctypes.c_int),
        ("format", ctypes.c_int),
        ("pad", ctypes.c_uint32 * 5),
    ]


class _RGBABuffer(ctypes.Structure):
    _fields_ = [
        ("rgba", ctypes.c_void_p),
        ("stride", ctypes.c_int),
        ("size", ctypes.c_size_t),
    ]


class _YUVABuffer(ctypes.Structure):
    _fields_ = [
        ("y", ctypes.c_void_p),
        ("u", ctypes.c_void_p),
        ("v", ctypes.c_void_p),
        ("a", ctypes.c_void_p),
        ("y_stride", ctypes.c_int),
        ("u_stride", ctypes.c_int),
        ("v_stride", ctypes.c_int),
        ("a_stride", ctypes.c_int),
        ("y_size", ctypes.c_size_t),
        ("u_size", ctypes.c_size_t),
        ("v_size", ctypes.c_size_t),
        ("a_size", ctypes.c_size_t),
    ]


class _BufferUnion(ctypes.Union):
    _fields_ = [("RGBA", _RGBABuffer), ("YUVA", _YUVABuffer)]


class _DecBuffer(ctypes.Structure):
    _fields_ = [
        ("colorspace", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("is_external_memory", ctypes.c_int),
        ("u", _BufferUnion),
        ("pad", ctypes.c_uint32 * 4),
        ("private_memory", ctypes.c_void_p),
    ]


class _Options(ctypes.Structure):
    _fields_ = [
        ("bypass_filtering", ctypes.c_int),
        ("no_fancy_upsampling", ctypes.c_int),
        ("use_cropping", ctypes.c_int),
        ("crop_left", ctypes.c_int),
        ("crop_top", ctypes.c_int),
        ("crop_width", ctypes.c_int),
        ("crop_height", ctypes.c_int),
        ("use_scaling", ctypes.c_int),
        ("scaled_width", ctypes.c_int),
        ("scaled_height", ctypes.c_int),
        ("use_threads", ctypes.c_int),
        ("dithering_strength", ctypes.c_int),
        ("flip", ctypes.c_int),
        ("alpha_dithering_strength", ctypes.c_int),
        ("pad", ctypes.c_uint32 * 5),
    ]


class _Config(ctypes.Structure):
    _fields_ = [("input", _Features), ("output", _DecBuffer), ("options", _Options)]


def _candidates() -> list[str]:
    # Pillow's wheel ships libwebp beside the package (Linux) or inside it (macOS).
    return library_candidates("PIL", ("../pillow.libs/libwebp-*", ".dylibs/libwebp.*"), "webp")


@cache
def _library() -> ctypes.CDLL | None:
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            if lib.WebPGetDecoderVersion() >> 16 < 1:  # the advanced API's layout of 1.x
                continue
            lib.WebPInitDecoderConfigInternal.argtypes = [ctypes.POINTER(_Config), ctypes.c_int]
            lib.WebPGetFeaturesInternal.argtypes = [
                ctypes.c_char_p,
                ctypes.c_size_t,
                ctypes.POINTER(_Features),
                ctypes.c_int,
            ]
            lib.WebPDecode.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_Config)]
            lib.WebPFreeDecBuffer.argtypes = [ctypes.POINTER(_DecBuffer)]
        except (OSError, AttributeError):  # not loadable, or not libwebp
            continue
        return lib
    return None


def available() -> bool:
    """True when libwebp was found (cropped WebP decoding is possible)."""
    return _library() is not None


def decode(data: bytes, region: tuple[int, int, int, int] | None = None) -> np.ndarray | None:
    """The RGB ``uint8`` pixels (alpha dropped) of ``region = (top, left, height, width)`` of the
    WebP ``data`` (None: the whole image), or None when this decoder does not take the file (see
    the module doc: the caller then decodes the usual way)."""
    lib = _library()
    if lib is None:
        return None
    config = _Config()
    if not lib.WebPInitDecoderConfigInternal(ctypes.byref(config), _ABI_VERSION):
        return None
    if lib.WebPGetFeaturesInternal(data, len(data), ctypes.byref(config.input), _ABI_VERSION):
        return None
    width, height = config.input.width, config.input.height
    if config.input.has_animation or width < 1 or height < 1:
        return None
    box = checked_region(region, height, width)
    if box is None:
        return None
    top, left, crop_h, crop_w = box
    # The decoded area: the region and a macroblock of margin, its left and top even (libwebp
    # rounds them down to even itself; we do it here so that the cut below knows the offsets).
    x0 = max(0, left - _MARGIN) & ~1
    y0 = max(0, top - _MARGIN) & ~1
    x1 = min(width, left + crop_w + _MARGIN)
    y1 = min(height, top + crop_h + _MARGIN)
    if (x0, y0, x1, y1) != (0, 0, width, height):
        options = config.options
        options.use_cropping = 1
        options.crop_left, options.crop_top = x0, y0
        options.crop_width, options.crop_height = x1 - x0, y1 - y0
    out = np.empty((y1 - y0, x1 - x0, 3), dtype=np.uint8)
    buffer = config.output
    buffer.colorspace = _MODE_RGB
    buffer.is_external_memory = 1
    buffer.u.RGBA.rgba = out.ctypes.data
    buffer.u.RGBA.stride = out.shape[1] * 3
    buffer.u.RGBA.size = out.nbytes
    status = lib.WebPDecode(data, len(data), ctypes.byref(config))
    lib.WebPFreeDecBuffer(ctypes.byref(buffer))  # nothing to free in external memory; the API asks
    if status != 0 or (buffer.width, buffer.height) != (x1 - x0, y1 - y0):
        return None
    return out[top - y0 : top - y0 + crop_h, left - x0 : left - x0 + crop_w]
