"""Encoded image bytes -> RGB ``uint8`` array ``[H, W, 3]``, or a specific :class:`UnreadableImage`.

What a decoded image looks like, whatever the file:

- 3 channels, 8 bits, C-contiguous, at least 1x1;
- alpha is **dropped**, not composited (what OpenCV's ``IMREAD_COLOR`` and PIL's
  ``convert("RGB")`` do, hence what the official framework's models saw);
- grayscale, palette and CMYK images are converted to RGB; 16-bit images keep their high byte;
- the EXIF orientation is applied (the image is shown upright, as a viewer shows it);
- animated or multi-page files give their first frame.

Refused, with the reason in the error: zero-byte files, non-image bytes, truncated or corrupt
files, and images above ``max_pixels`` (decompression bombs are refused from their header,
before any pixel is decoded, so they cost neither time nor memory).

Decoders, the fastest that gives these exact pixels: 8-bit YCbCr and grayscale JPEGs go through
libjpeg-turbo's TurboJPEG API (:mod:`aigenbench.data.jpeg_region`: it can decode a region only,
see ``region``), still WebPs through libwebp's advanced API (:mod:`aigenbench.data.webp_region`:
a region only, too), 8-bit gray, RGB and RGBA PNGs through libspng
(:mod:`aigenbench.data.png_rows`: no row below a region), the other PNGs and JPEGs (and WebPs and
PNGs when those libraries are missing) through OpenCV (faster than PIL; the same pixels, which the
tests check); anything else, and anything those refuse, goes through PIL, which
also supplies the reason of a failure.
"""

from __future__ import annotations

import io
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from aigenbench.data import jpeg_region, ops, png_rows, webp_region
from aigenbench.data.opencv import cv2
from aigenbench.errors import DataError

DEFAULT_MAX_PIXELS = 1 << 27
"""Largest accepted image, in pixels (134 Mpx, e.g. 11585x11585: 400 MB once decoded)."""

_IMREAD_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)
_ORIENTATION_TAG = 0x0112
_CV2_FORMATS = {"JPEG", "PNG", "MPO", "WEBP"}
_JPEG_FORMATS = {"JPEG", "MPO"}


class UnreadableImage(DataError):
    """An image whose bytes cannot be turned into pixels; ``reason`` says why."""

    def __init__(self, reason: str, where: str | None = None) -> None:
        self.reason = reason
        self.where = where
        super().__init__(f"{where}: {reason}" if where else reason)

    def at(self, where: str) -> UnreadableImage:
        """The same error, naming the image (a path or ``split[row]``)."""
        return UnreadableImage(self.reason, where)


Box = tuple[int, int, int, int]
"""``(top, left, height, width)`` of a region, in pixels."""


def decode_image(
    data: bytes | bytearray | memoryview,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    region: Box | None = None,
) -> np.ndarray:
    """Decode encoded image bytes to an RGB ``uint8`` array ``[H, W, 3]`` (see the module doc).

    ``region``: only that part of the upright image (after the EXIF orientation), equal bit for bit
    to ``decode_image(data)[top : top + height, left : left + width]``; JPEGs and WebPs then decode
    only the region (:mod:`aigenbench.data.jpeg_region`, :mod:`aigenbench.data.webp_region`), PNGs
    no row below it (:mod:`aigenbench.data.png_rows`), other formats decode whole and are cut.
    """
    if data is None or len(data) == 0:
        raise UnreadableImage("empty file (0 bytes)")
    data = bytes(data)
    return _decode(data, _remembered_header(data, max_pixels), region)


@dataclass(frozen=True)
class _Header:
    """What the header says: PIL's lazily opened image (no pixel read yet), its stored size and
    its EXIF orientation."""

    image: Image.Image
    height: int
    width: int
    orientation: int


def _read_header(data: bytes, max_pixels: int) -> _Header:
    """The header of ``data``, or the refusals it already shows (empty, not an image, invalid
    size, decompression bomb)."""
    if data is None or len(data) == 0:
        raise UnreadableImage("empty file (0 bytes)")
    image = _open_header(data, max_pixels)
    width, height = image.size
    if width < 1 or height < 1:
        raise UnreadableImage(f"invalid size {width}x{height}")
    if width * height > max_pixels:
        raise too_large(f"{width}x{height} = {width * height:,} pixels", max_pixels)
    return _Header(image, height, width, _orientation(image))


_last_header = threading.local()
"""The header :func:`upright_size` read last in this thread, with its bytes: crop-if-large reads
the size, then decodes the same bytes object, and opening a header costs 0.1-3 ms (WebP most)."""


def _remember_header(data: bytes, max_pixels: int) -> _Header:
    header = _read_header(data, max_pixels)
    _last_header.entry = (data, max_pixels, header)  # holds the bytes: their id stays theirs
    return header


def _remembered_header(data: bytes, max_pixels: int) -> _Header:
    """The header :func:`upright_size` just read of this very bytes object, used once (a retry
    after a failed decode reads it afresh), else read now."""
    entry = getattr(_last_header, "entry", None)
    _last_header.entry = None
    if entry is not None and entry[0] is data and entry[1] == max_pixels:
        return entry[2]
    return _read_header(data, max_pixels)


def _decode(data: bytes, header: _Header, region: Box | None) -> np.ndarray:
    image, height, width = header.image, header.height, header.width
    orientation = header.orientation
    stored = None if region is None else stored_box(region, orientation, height, width)
    array: np.ndarray | None = None
    if (
        image.format in _CV2_FORMATS
        and image.mode
        in (
            "RGB",
            "L",
            "RGBA",
            "LA",
            "P",
            "PA",
            "1",
            "I;16",
        )
        and not getattr(image, "is_animated", False)
    ):
        jpeg = image.format in _JPEG_FORMATS
        if jpeg and _jpeg_truncated(data):
            raise UnreadableImage("truncated JPEG (no end-of-image marker after the last scan)")
        if jpeg and image.mode in ("RGB", "L"):
            array = jpeg_region.decode(data, stored)
            expected = (height, width) if stored is None else stored[2:]
            if array is not None and array.shape[:2] == expected:
                return np.ascontiguousarray(apply_orientation(array, orientation))
        if image.format in ("WEBP", "PNG"):
            region_decoder = webp_region if image.format == "WEBP" else png_rows
            array = region_decoder.decode(data, stored)
            expected = (height, width) if stored is None else stored[2:]
            if array is not None and array.shape[:2] == expected:
                return np.ascontiguousarray(apply_orientation(array, orientation))
        array = _decode_cv2(data)
    if array is None:
        array = _decode_pil(image)
    if array.shape[0] != height or array.shape[1] != width:
        # A decoder that disagrees with the header is a corrupt file, not a smaller image.
        raise UnreadableImage(
            f"decoded size {array.shape[1]}x{array.shape[0]} differs from the header's "
            f"{width}x{height}"
        )
    if stored is not None:
        top, left, crop_h, crop_w = stored
        array = array[top : top + crop_h, left : left + crop_w]
    return np.ascontiguousarray(apply_orientation(array, orientation))


@dataclass(frozen=True)
class EncodedImage:
    """An image not decoded yet: what the pipelines accept instead of pixels so that
    crop-if-large, which knows its region from the size alone, decodes only that region
    (:func:`decoded_crop_if_large`)."""

    data: bytes
    max_pixels: int = DEFAULT_MAX_PIXELS

    def size(self) -> tuple[int, int]:
        """``(height, width)`` of the upright image, from the header (:func:`upright_size`)."""
        return upright_size(self.data, self.max_pixels)

    def decode(self, region: Box | None = None) -> np.ndarray:
        """:func:`decode_image` of these bytes (of ``region`` only, when given)."""
        return decode_image(self.data, self.max_pixels, region)


def decoded_crop_if_large(
    image: np.ndarray | EncodedImage, max_size: int | None, rng: np.random.Generator | None = None
) -> np.ndarray:
    """:func:`aigenbench.data.ops.crop_if_large` of ``image``, decoding only the kept region when
    ``image`` is still encoded: the same draws from ``rng``, the same pixels bit for bit."""
    if isinstance(image, np.ndarray):
        return ops.crop_if_large(image, max_size, rng)
    height, width = image.size()
    return image.decode(ops.crop_if_large_box(height, width, max_size, rng))


def upright_size(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """``(height, width)`` of the upright image (after the EXIF orientation), from the header
    alone; the same refusals as :func:`decode_image` for what the header shows (empty, not an
    image, invalid size, decompression bomb)."""
    return _upright(_remember_header(bytes(data) if data is not None else b"", max_pixels))


def _upright(header: _Header) -> tuple[int, int]:
    transposed = header.orientation in (5, 6, 7, 8)
    return (header.width, header.height) if transposed else (header.height, header.width)


def stored_box(region: Box, orientation: int, height: int, width: int) -> Box:
    """The box of the stored (not yet oriented) ``height`` x ``width`` image that
    :func:`apply_orientation` turns into ``region`` of the upright image."""
    top, left, crop_h, crop_w = region
    if orientation in (5, 6, 7, 8):
        # Transposed: upright rows are stored columns and upright columns stored rows.
        rows = (height - left - crop_w) if orientation in (6, 7) else left
        columns = (width - top - crop_h) if orientation in (7, 8) else top
        return rows, columns, crop_w, crop_h
    rows = (height - top - crop_h) if orientation in (3, 4) else top
    columns = (width - left - crop_w) if orientation in (2, 3) else left
    return rows, columns, crop_h, crop_w


def decode_file(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """:func:`decode_image` of a file; an unreadable file's error names the path."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise UnreadableImage(
            f"cannot read the file ({error.strerror or error})", str(path)
        ) from None
    try:
        return decode_image(data, max_pixels)
    except UnreadableImage as error:
        raise error.at(str(path)) from None


def too_large(size: str, max_pixels: int) -> UnreadableImage:
    """The decompression-bomb refusal, quoting the setting that decides it."""
    return UnreadableImage(
        f"image too large ({size}; data.max_image_pixels is {max_pixels:,}): possible "
        "decompression bomb; if the image is genuine, raise data.max_image_pixels"
    )


def _open_header(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """PIL's lazy open: reads the header only (format, mode, size), no pixel data."""
    try:
        with warnings.catch_warnings():
            # The size check is ours (max_pixels); PIL's own limit would only warn or refuse
            # at a different threshold.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise UnreadableImage(f"not an image (unknown format; starts with {data[:8]!r})") from None
    except Image.DecompressionBombError as error:
        # PIL refuses beyond twice its own limit before we see the size: report ours.
        found = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(found.group(1)):,} pixels" if found else "beyond PIL's own limit"
        raise too_large(size, max_pixels) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as error:
        raise UnreadableImage(f"truncated or corrupt header ({error})") from None


def _orientation(image: Image.Image) -> int:
    if "exif" not in image.info:
        return 1
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:  # a broken EXIF block must not make the image unreadable
        return 1


def _jpeg_truncated(data: bytes) -> bool:
    """True when no end-of-image marker follows the last start-of-scan.

    Inside entropy-coded data every 0xFF byte is stuffed (0xFF00) or a restart marker, so 0xFFD9
    and 0xFFDA cannot appear by chance there; EXIF thumbnails (which carry their own markers)
    come before the main image's scans.
    """
    return data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda")


def _decode_cv2(data: bytes) -> np.ndarray | None:
    buffer = np.frombuffer(data, dtype=np.uint8)
    flags = cv2.IMREAD_IGNORE_ORIENTATION
    try:
        if _IMREAD_RGB is not None:
            return cv2.imdecode(buffer, _IMREAD_RGB | flags)
        bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR | flags)
        return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    except cv2.error:
        return None


def _decode_pil(image: Image.Image) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.seek(0)
            image.load()
            return _pil_to_rgb(image)
    except UnreadableImage:
        raise
    except MemoryError:
        raise UnreadableImage("not enough memory to decode") from None
    except Exception as error:  # PIL raises many kinds (OSError, SyntaxError, struct.error, ...)
        message = str(error) or type(error).__name__
        raise UnreadableImage(f"corrupt or truncated ({message})") from None


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        values = np.asarray(image)
        if mode == "F":
            # Float images have no standard range: [0, 1] if they fit, else [0, 255].
            scale = 255.0 if float(np.nanmax(values, initial=0.0)) <= 1.0 else 1.0
            gray = np.clip(np.nan_to_num(values) * scale, 0, 255).astype(np.uint8)
        else:
            gray = (np.clip(values.astype(np.int64), 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode != "RGB":
        # Alpha is dropped (RGBA, LA, PA) and palettes/CMYK/YCbCr converted, as PIL does.
        image = image.convert("RGB")
    return np.asarray(image)


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an ``[H, W, C]`` array (views, no copy)."""
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return array.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(array, -1)
    if orientation == 7:
        return np.rot90(array, -1)[::-1]
    if orientation == 8:
        return np.rot90(array, 1)
    return array
