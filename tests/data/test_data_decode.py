"""Robust decoding: every odd or broken image kind gives pixels or a specific UnreadableImage."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from aigenbench.data.decode import UnreadableImage, decode_file, decode_image
from aigenbench.errors import DataError
from tests.data.data_helpers import encode, random_image


def _reference(data: bytes) -> np.ndarray:
    """What PIL shows: upright, converted to RGB (alpha dropped)."""
    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def _png_with_size(width: int, height: int) -> bytes:
    """A tiny PNG file whose header claims ``width`` x ``height`` (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "TIFF"])
def test_common_formats_decode_to_rgb_uint8(fmt):
    image = random_image(20, 30)
    data = encode(image, fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
    out = decode_image(data)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, _reference(data))
    if fmt in ("PNG", "BMP", "TIFF"):
        np.testing.assert_array_equal(out, image)


def test_zero_byte_file():
    with pytest.raises(UnreadableImage, match="empty file"):
        decode_image(b"")


def test_non_image_bytes():
    with pytest.raises(UnreadableImage, match="not an image"):
        decode_image(b"this is a text file, not a picture\n" * 10)


def test_unreadable_image_is_a_data_error():
    with pytest.raises(DataError):
        decode_image(b"nope")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files(fmt, photo):
    data = encode(photo, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    with pytest.raises(UnreadableImage, match="truncated"):
        decode_image(data[: len(data) * 2 // 3])


def test_corrupt_header():
    data = bytearray(encode(random_image(), "PNG"))
    data[16:24] = b"\xff" * 8  # width/height of IHDR, and its CRC no longer matches
    with pytest.raises(UnreadableImage):
        decode_image(bytes(data))


def test_cmyk_jpeg(photo):
    cmyk = Image.fromarray(photo).convert("CMYK")
    data = encode(cmyk, "JPEG", quality=95)
    out = decode_image(data)
    assert out.shape == photo.shape
    np.testing.assert_array_equal(out, _reference(data))
    assert np.abs(out.astype(int) - photo).mean() < 8


def test_16_bit_png_keeps_the_high_byte():
    import cv2

    values = np.random.default_rng(1).integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    _, rgb16 = cv2.imencode(".png", values[:, :, ::-1])
    np.testing.assert_array_equal(decode_image(rgb16.tobytes()), (values >> 8).astype(np.uint8))
    _, gray16 = cv2.imencode(".png", values[:, :, 0])
    out = decode_image(gray16.tobytes())
    np.testing.assert_array_equal(out[:, :, 1], (values[:, :, 0] >> 8).astype(np.uint8))
    assert (out[:, :, 0] == out[:, :, 2]).all()


def test_16_bit_tiff_through_pil():
    values = np.random.default_rng(2).integers(0, 65536, (7, 5), dtype=np.uint16)
    data = encode(Image.fromarray(values), "TIFF")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    out = decode_image(data)
    np.testing.assert_array_equal(out[:, :, 0], (values >> 8).astype(np.uint8))


def test_palette_with_and_without_transparency():
    image = Image.fromarray(random_image(16, 16)).convert("P", palette=Image.Palette.ADAPTIVE)
    data = encode(image, "PNG")
    np.testing.assert_array_equal(decode_image(data), np.asarray(image.convert("RGB")))
    data = encode(image, "PNG", transparency=0)
    np.testing.assert_array_equal(decode_image(data), np.asarray(image.convert("RGB")))
    gif = encode(image, "GIF")
    assert decode_image(gif).shape == (16, 16, 3)


def test_rgba_drops_alpha():
    rgba = np.dstack([random_image(10, 12), np.zeros((10, 12), np.uint8)])
    rgba[:, :6, 3] = 255
    out = decode_image(encode(rgba, "PNG"))
    np.testing.assert_array_equal(out, rgba[:, :, :3])  # colour kept where fully transparent
    la = Image.fromarray(rgba).convert("LA")
    assert decode_image(encode(la, "PNG")).shape == (10, 12, 3)


def test_grayscale_becomes_three_equal_channels():
    gray = random_image(8, 9)[:, :, 0]
    out = decode_image(encode(gray, "PNG"))
    assert out.shape == (8, 9, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[:, :, channel], gray)
    bilevel = Image.fromarray(gray > 128)
    assert set(np.unique(decode_image(encode(bilevel, "PNG")))) <= {0, 255}


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation(orientation, fmt):
    image = Image.fromarray(random_image(5, 7, seed=orientation))
    exif = image.getexif()
    exif[0x0112] = orientation
    data = encode(image, fmt, exif=exif.tobytes(), **({"quality": 100} if fmt == "JPEG" else {}))
    out = decode_image(data)
    expected_shape = (7, 5, 3) if orientation >= 5 else (5, 7, 3)
    assert out.shape == expected_shape
    np.testing.assert_array_equal(out, _reference(data))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF"])
def test_one_pixel_images(fmt):
    out = decode_image(encode(np.full((1, 1, 3), 200, np.uint8), fmt))
    assert out.shape == (1, 1, 3)


def test_decompression_bomb_is_refused_from_the_header():
    bomb = _png_with_size(100_000, 100_000)
    assert len(bomb) < 200
    # 10^10 pixels (30 GB decoded): refused from the header, before any allocation.
    with pytest.raises(UnreadableImage, match="decompression bomb") as error:
        decode_image(bomb)
    assert "data.max_image_pixels is 134,217,728" in str(error.value)  # our setting, not PIL's


def test_the_bomb_message_quotes_the_configured_limit():
    data = encode(random_image(40, 40), "PNG")
    with pytest.raises(UnreadableImage) as error:
        decode_image(data, max_pixels=1000)
    assert "40x40 = 1,600 pixels; data.max_image_pixels is 1,000" in str(error.value)


def test_max_pixels_is_configurable():
    data = encode(random_image(40, 40), "PNG")
    assert decode_image(data, max_pixels=1600).shape == (40, 40, 3)
    with pytest.raises(UnreadableImage, match="too large"):
        decode_image(data, max_pixels=1599)


def test_decode_file_names_the_path(tmp_path):
    good = tmp_path / "good.png"
    good.write_bytes(encode(random_image(), "PNG"))
    assert decode_file(good).shape == (24, 32, 3)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    with pytest.raises(UnreadableImage) as error:
        decode_file(bad)
    assert str(bad) in str(error.value) and error.value.reason.startswith("empty")
    with pytest.raises(UnreadableImage, match="cannot read"):
        decode_file(tmp_path / "missing.png")
