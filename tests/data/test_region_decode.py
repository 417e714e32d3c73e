"""Decoding only what crop-if-large keeps gives the pixels of the full decode followed by the crop,
bit for bit: every JPEG subsampling, odd sizes, progressive, grayscale, CMYK, all eight EXIF
orientations, PNG (8/16-bit, palette, alpha, gray, interlaced; rows below the region never
decoded), WebP (lossy, lossless, alpha; region decoded alone); and
the pipelines draw the same random numbers whether they get the image decoded or still encoded."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from aigenbench.data import decode, jpeg_region, ops, png_rows, webp_region
from aigenbench.data.decode import (
    EncodedImage,
    apply_orientation,
    decode_image,
    decoded_crop_if_large,
    stored_box,
)
from aigenbench.data.pipelines import EvalPipeline, TrainPipeline
from aigenbench.data.seeding import Stream, sample_rng
from tests.conftest import optional_module

_CV2_MODES = ("RGB", "L", "RGBA", "LA", "P", "PA", "1", "I;16")


def _full_decode_then_orient(data: bytes) -> np.ndarray:
    """The decoder as it was before region decoding: OpenCV for JPEG and PNG, PIL for anything
    else (WebP, CMYK), then the EXIF orientation."""
    image = Image.open(io.BytesIO(data))
    if image.format in ("JPEG", "PNG") and image.mode in _CV2_MODES:
        array = decode._decode_cv2(data)
    else:
        array = decode._decode_pil(image)
    assert array is not None
    return np.ascontiguousarray(apply_orientation(array, decode._orientation(image)))


def _textured(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Photo-like pixels (a natural photo resized, plus noise): chroma edges everywhere, so an
    upsampling or position error changes pixels."""
    import cv2
    from skimage.data import astronaut

    rng = np.random.default_rng(seed)
    base = cv2.resize(astronaut(), (width, height), interpolation=cv2.INTER_AREA).astype(np.int16)
    noisy = base + rng.integers(-12, 13, size=base.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _jpeg(array: np.ndarray, orientation: int = 1, **options) -> bytes:
    stream = io.BytesIO()
    image = Image.fromarray(array)
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    image.save(stream, format="JPEG", quality=options.pop("quality", 90), **options)
    return stream.getvalue()


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    stream = io.BytesIO()
    image.save(stream, format=fmt, **options)
    return stream.getvalue()


def _boxes(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """Regions at every offset modulo the largest iMCU (32) along both axes, touching every edge,
    of odd sizes, and the whole image."""
    boxes = [(0, 0, height, width), (0, 0, 1, 1), (height - 1, width - 1, 1, 1)]
    for offset in range(0, 33, 3):
        top, left = min(offset, height - 1), min(offset + 7, width - 1)
        boxes.append((top, left, min(37, height - top), min(45, width - left)))
        boxes.append((height - min(29, height) - 0, left, min(29, height), width - left))
    boxes.append((height // 3, width // 5, height - height // 3 - 3, 11))
    return boxes


# Sizes not multiple of any MCU, one smaller than an iMCU, one of exact MCUs.
SIZES = [(75, 99), (13, 21), (64, 96)]
SUBSAMPLINGS = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


@pytest.fixture(scope="module")
def turbojpeg_library() -> None:
    optional_module("turbojpeg", "core (turbojpeg)")
    if not jpeg_region.available():
        pytest.fail("the turbojpeg wheel is installed but its TurboJPEG 3 library did not load")


@pytest.mark.parametrize("subsampling", SUBSAMPLINGS)
@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_jpeg_region_decode_equals_the_full_decode_cut(
    turbojpeg_library, subsampling: str, progressive: bool
) -> None:
    """libjpeg-turbo's region decode itself (not a fallback) gives the full decode's pixels."""
    for height, width in SIZES:
        data = _jpeg(
            _textured(height, width),
            subsampling=SUBSAMPLINGS[subsampling],
            progressive=progressive,
        )
        full = _full_decode_then_orient(data)
        for top, left, crop_h, crop_w in _boxes(height, width):
            region = jpeg_region.decode(data, (top, left, crop_h, crop_w))
            assert region is not None, "the region decoder refused a plain YCbCr JPEG"
            expected = full[top : top + crop_h, left : left + crop_w]
            assert np.array_equal(region, expected), (height, width, top, left, crop_h, crop_w)


def test_grayscale_jpeg_region_is_replicated_gray(turbojpeg_library) -> None:
    data = _jpeg(_textured(57, 83)[:, :, 0])
    full = _full_decode_then_orient(data)
    for top, left, crop_h, crop_w in _boxes(57, 83):
        region = jpeg_region.decode(data, (top, left, crop_h, crop_w))
        assert region is not None
        assert np.array_equal(region, full[top : top + crop_h, left : left + crop_w])


def test_cmyk_and_12_bit_like_jpegs_are_left_to_the_usual_decoder(turbojpeg_library) -> None:
    cmyk = _encode(Image.fromarray(_textured(40, 56)).convert("CMYK"), "JPEG", quality=90)
    assert jpeg_region.decode(cmyk, (3, 5, 20, 20)) is None
    assert np.array_equal(
        decode_image(cmyk, region=(3, 5, 20, 20)), _full_decode_then_orient(cmyk)[3:23, 5:25]
    )


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_decodes_the_upright_region(orientation: int) -> None:
    data = _jpeg(_textured(45, 71, seed=orientation), orientation=orientation, subsampling=2)
    full = _full_decode_then_orient(data)
    height, width = full.shape[:2]
    assert decode.upright_size(data) == (height, width)
    for top, left, crop_h, crop_w in _boxes(height, width):
        region = decode_image(data, region=(top, left, crop_h, crop_w))
        assert np.array_equal(region, full[top : top + crop_h, left : left + crop_w]), (
            orientation,
            top,
            left,
        )


def test_crop_if_large_draws_are_pinned() -> None:
    """The seeded region of a 4928 x 3264 camera photo, and the next draw of the augmentation,
    are the values the protocol always had: region decoding changed no random number."""
    pinned = {(0, 0): (1619, 3407, 0.157543847134), (7, 1): (254, 838, 0.079154902775)}
    pinned[(123456, 3)] = (950, 301, 0.966733910262)
    for (image_id, copy), (top, left, after) in pinned.items():
        rng = sample_rng(Stream.TRAIN_DETERMINISTIC, 4321, image_id, copy)
        assert ops.crop_if_large_box(3264, 4928, 1080, rng) == (top, left, 1080, 1080)
        assert round(float(rng.random()), 12) == after
    assert ops.crop_if_large_box(3264, 4928, 1080) == (1092, 1924, 1080, 1080)
    assert ops.crop_if_large_box(1080, 700, 1080) is None


def test_stored_box_is_the_inverse_of_the_orientation() -> None:
    rng = np.random.default_rng(0)
    stored = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    for orientation in range(1, 9):
        upright = apply_orientation(stored, orientation)
        height, width = upright.shape[:2]
        for _ in range(50):
            crop_h, crop_w = int(rng.integers(1, height + 1)), int(rng.integers(1, width + 1))
            top, left = (
                int(rng.integers(0, height - crop_h + 1)),
                int(rng.integers(0, width - crop_w + 1)),
            )
            s_top, s_left, s_h, s_w = stored_box((top, left, crop_h, crop_w), orientation, 13, 17)
            cut = apply_orientation(stored[s_top : s_top + s_h, s_left : s_left + s_w], orientation)
            assert np.array_equal(cut, upright[top : top + crop_h, left : left + crop_w])


def _webp_cases() -> dict[str, bytes]:
    rgb = _textured(75, 99)
    rgba = np.dstack([rgb, _textured(75, 99, seed=1)[:, :, 0]])
    return {
        "lossy": _encode(Image.fromarray(rgb), "WEBP", quality=80),
        "lossy_odd_size": _encode(Image.fromarray(_textured(13, 21)), "WEBP", quality=70),
        "lossless": _encode(Image.fromarray(rgb), "WEBP", lossless=True),
        "lossy_alpha": _encode(Image.fromarray(rgba), "WEBP", quality=80),
        "lossless_alpha": _encode(Image.fromarray(rgba), "WEBP", lossless=True),
    }


def _webp_boxes(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """Every top and left offset modulo two macroblocks (32), each with a small region and one
    reaching the bottom-right corner, and the whole image."""
    boxes = [(0, 0, height, width)]
    for top in range(min(height, 33)):
        for left in range(min(width, 33)):
            boxes.append((top, left, min(19, height - top), min(23, width - left)))
            boxes.append((top, left, height - top, width - left))
    return boxes


@pytest.mark.parametrize("case", list(_webp_cases()))
def test_webp_region_decode_equals_the_full_decode_cut(case: str) -> None:
    """libwebp's cropped decode itself (not a fallback) gives OpenCV's full decode's pixels (and
    PIL's), cut, at every offset: lossy and lossless, with alpha, odd sizes."""
    if not webp_region.available():
        pytest.fail("Pillow's wheel is installed but its libwebp did not load")
    data = _webp_cases()[case]
    full = decode._decode_cv2(data)
    assert full is not None
    assert np.array_equal(full, _full_decode_then_orient(data))
    assert np.array_equal(decode_image(data), full)
    for top, left, crop_h, crop_w in _webp_boxes(*full.shape[:2]):
        region = webp_region.decode(data, (top, left, crop_h, crop_w))
        assert region is not None, "the region decoder refused a still WebP"
        expected = full[top : top + crop_h, left : left + crop_w]
        assert np.array_equal(region, expected), (case, top, left, crop_h, crop_w)


def test_animated_webp_is_left_to_the_usual_decoder() -> None:
    frames = [Image.fromarray(_textured(40, 56, seed=seed)) for seed in range(2)]
    data = _encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], quality=90)
    assert webp_region.decode(data, (3, 5, 20, 20)) is None
    assert np.array_equal(
        decode_image(data, region=(3, 5, 20, 20)), _full_decode_then_orient(data)[3:23, 5:25]
    )


def _png_cases() -> dict[str, bytes]:
    rgb = _textured(37, 53)
    rgba = np.dstack([rgb, _textured(37, 53, seed=1)[:, :, 0]])
    sixteen = (_textured(37, 53)[:, :, 0].astype(np.uint16) * 257 + 91).astype(np.uint16)
    return {
        "rgb": _encode(Image.fromarray(rgb), "PNG"),
        "rgba": _encode(Image.fromarray(rgba), "PNG"),
        "gray": _encode(Image.fromarray(rgb[:, :, 0]), "PNG"),
        "gray_alpha": _encode(Image.fromarray(rgba[:, :, [0, 3]], mode="LA"), "PNG"),
        "palette": _encode(Image.fromarray(rgb).quantize(64), "PNG"),
        "palette_transparency": _encode(Image.fromarray(rgb).quantize(16), "PNG", transparency=3),
        "16_bit": _encode(Image.fromarray(sixteen), "PNG"),
        "webp_lossy": _encode(Image.fromarray(rgb), "WEBP", quality=80),
        "webp_lossless": _encode(Image.fromarray(rgb), "WEBP", lossless=True),
        "webp_alpha": _encode(Image.fromarray(rgba), "WEBP", quality=80),
    }


@pytest.mark.parametrize("case", list(_png_cases()))
def test_png_and_webp_decoders_give_the_usual_pixels(case: str) -> None:
    data = _png_cases()[case]
    full = _full_decode_then_orient(data)
    assert np.array_equal(decode_image(data), full)
    for top, left, crop_h, crop_w in _boxes(*full.shape[:2]):
        region = decode_image(data, region=(top, left, crop_h, crop_w))
        assert np.array_equal(region, full[top : top + crop_h, left : left + crop_w])


def _interlaced_png(array: np.ndarray) -> bytes:
    """An Adam7-interlaced 8-bit RGB PNG (PIL writes none): each pass's rows, filter 0."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    height, width = array.shape[:2]
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2)]
    raw = b""
    for x0, y0, dx, dy in [*passes, (0, 1, 1, 2)]:
        sub = array[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _png_row_cases() -> dict[str, bytes]:
    rgb = _textured(37, 53)
    rgba = np.dstack([rgb, _textured(37, 53, seed=1)[:, :, 0]])
    return {
        "rgb": _encode(Image.fromarray(rgb), "PNG"),
        "rgba": _encode(Image.fromarray(rgba), "PNG"),
        "gray": _encode(Image.fromarray(rgb[:, :, 0]), "PNG"),
        "gray_alpha": _encode(Image.fromarray(rgba[:, :, [0, 3]], mode="LA"), "PNG"),
        "odd_size": _encode(Image.fromarray(_textured(13, 21)), "PNG", compress_level=9),
    }


@pytest.mark.parametrize("case", list(_png_row_cases()))
def test_png_rows_decode_equals_the_full_decode_cut(case: str) -> None:
    """libspng stopped after the region's last row (not a fallback) gives OpenCV's full decode's
    pixels, cut: every first row, every last row, several columns."""
    if not png_rows.available():
        pytest.fail("pyspng is a dependency but is not installed")
    data = _png_row_cases()[case]
    full = decode._decode_cv2(data)
    assert full is not None
    assert np.array_equal(decode_image(data), full)
    height, width = full.shape[:2]
    for top in range(height):
        for crop_h in (1, min(7, height - top), height - top):
            for left, crop_w in ((0, width), (width // 3, min(11, width - width // 3))):
                region = png_rows.decode(data, (top, left, crop_h, crop_w))
                assert region is not None, "the row decoder refused an 8-bit PNG"
                expected = full[top : top + crop_h, left : left + crop_w]
                assert np.array_equal(region, expected), (case, top, left, crop_h, crop_w)


def test_palette_16_bit_and_interlaced_pngs_are_left_to_the_usual_decoder() -> None:
    cases = _png_cases()
    interlaced = _interlaced_png(_textured(37, 53))
    assert np.array_equal(decode._decode_cv2(interlaced), _textured(37, 53))
    for data in (cases["palette"], cases["palette_transparency"], cases["16_bit"], interlaced):
        assert png_rows.decode(data, (3, 5, 20, 20)) is None
        assert png_rows.decode(data) is None
        full = _full_decode_then_orient(data)
        assert np.array_equal(decode_image(data, region=(3, 5, 20, 20)), full[3:23, 5:25])


def test_a_damaged_png_is_refused_as_before() -> None:
    """Damage the row decoder reads makes it step aside; the usual decoder then refuses."""
    data = bytearray(_png_row_cases()["rgb"])
    data[60:90] = bytes(30)
    assert png_rows.decode(bytes(data), (0, 0, 37, 53)) is None
    with pytest.raises(decode.UnreadableImage):
        decode_image(bytes(data), region=(0, 0, 37, 53))


@pytest.fixture(scope="session")
def mini_mix() -> list[bytes]:
    """A small mix in the real one's formats: web JPEGs (4:2:0), camera JPEGs (4:2:2, one
    progressive, one turned by EXIF), PNGs (RGB, RGBA, palette, 16-bit), WebP; and one image
    above the real 1080-pixel threshold."""
    sizes = [(61, 90), (90, 61), (77, 77), (96, 130), (130, 96)]
    blobs = []
    for index, (height, width) in enumerate(sizes):
        pixels = _textured(height, width, seed=index)
        blobs.append(_jpeg(pixels, subsampling=2, quality=80))
        blobs.append(_jpeg(pixels, subsampling=1, quality=95, progressive=index % 2 == 0))
        blobs.append(_jpeg(pixels, orientation=6 + index % 3, subsampling=2))
        blobs.append(_encode(Image.fromarray(pixels), "PNG"))
        blobs.append(_encode(Image.fromarray(pixels), "WEBP", quality=85))
    blobs.append(_encode(Image.fromarray(_textured(53, 70)).quantize(32), "PNG"))
    blobs.append(_jpeg(_textured(1203, 1131), subsampling=2, quality=85))
    return blobs


@pytest.mark.parametrize("max_size", [48, 1080])
def test_crop_if_large_of_the_encoded_image_equals_crop_of_the_decoded(
    mini_mix: list[bytes], max_size: int
) -> None:
    """Same region (central and seeded), same pixels, and the random stream left in the same
    state for the augmentation that follows."""
    for index, data in enumerate(mini_mix):
        full = _full_decode_then_orient(data)
        assert np.array_equal(decode_image(data), full)
        central = decoded_crop_if_large(EncodedImage(data), max_size)
        assert np.array_equal(central, ops.crop_if_large(full, max_size)), index
        for copy in range(3):
            drawn = sample_rng(Stream.TRAIN_DETERMINISTIC, 4321, index, copy)
            expected_rng = sample_rng(Stream.TRAIN_DETERMINISTIC, 4321, index, copy)
            region = decoded_crop_if_large(EncodedImage(data), max_size, drawn)
            expected = ops.crop_if_large(full, max_size, expected_rng)
            assert np.array_equal(region, expected), (index, copy)
            assert drawn.integers(0, 1 << 62) == expected_rng.integers(0, 1 << 62)


def test_pipelines_give_the_same_tensors_for_encoded_and_decoded_images(
    mini_mix: list[bytes],
) -> None:
    train = TrainPipeline(input_size=32, maximum_processing_size=48)
    evaluation = EvalPipeline(input_size=32, crop="multicrop", maximum_processing_size=48)
    for image_id, data in enumerate(mini_mix):
        pixels = decode_image(data)
        for copy in range(2):
            from_bytes = train(EncodedImage(data), image_id, copy, window=1, epoch=2)
            assert np.array_equal(from_bytes, train(pixels, image_id, copy, window=1, epoch=2))
        for ours, theirs in zip(
            evaluation(EncodedImage(data), image_id), evaluation(pixels, image_id), strict=True
        ):
            assert np.array_equal(ours, theirs)


def test_without_the_region_decoder_the_pixels_are_the_same(monkeypatch, mini_mix) -> None:
    expected = [decoded_crop_if_large(EncodedImage(data), 48) for data in mini_mix]
    monkeypatch.setattr(jpeg_region, "decode", lambda data, region=None: None)
    monkeypatch.setattr(webp_region, "decode", lambda data, region=None: None)
    monkeypatch.setattr(png_rows, "decode", lambda data, region=None: None)
    for data, pixels in zip(mini_mix, expected, strict=True):
        assert np.array_equal(decoded_crop_if_large(EncodedImage(data), 48), pixels)


def test_damaged_jpeg_below_the_region_is_still_refused(mini_mix) -> None:
    """A file cut short is refused from its markers before any region is decoded, as before."""
    data = mini_mix[-1]
    with pytest.raises(decode.UnreadableImage, match="truncated JPEG"):
        decode_image(data[: len(data) // 2], region=(0, 0, 8, 8))


@pytest.mark.parametrize("encoder", ops.JPEG_ENCODERS)
@pytest.mark.parametrize("compressor", [True, False], ids=["turbojpeg", "encoder_itself"])
def test_jpeg_degradation_gives_the_pixels_of_the_encoder_read_back_by_opencv(
    monkeypatch, encoder, compressor: bool
) -> None:
    """The mandatory JPEG step gives the pixels of OpenCV's or Pillow's encoder read back by
    OpenCV, every quality, odd sizes, gray content, a crop view; through TurboJPEG's compressor
    (the library of the ``turbojpeg`` wheel) or, without it, through the encoder itself."""
    import cv2

    if compressor:
        optional_module("turbojpeg", "core (turbojpeg)")
    else:
        monkeypatch.setattr(jpeg_region, "compress_decompress", lambda image, quality: None)
    images = [
        _textured(61, 83),
        _textured(32, 32, seed=2)[3:30, 5:22],
        np.repeat(_textured(45, 29)[:, :, :1], 3, 2),
        _textured(1, 17, seed=3),
    ]
    for index, image in enumerate(images):
        for quality in range(1, 101) if index < 2 else (1, 30, 50, 75, 95, 100):
            if encoder == "opencv":
                bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
                _, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
                encoded = data.tobytes()
            else:
                encoded = _encode(Image.fromarray(image), "JPEG", quality=quality)
            expected = cv2.cvtColor(
                cv2.imdecode(np.frombuffer(encoded, np.uint8), 1), cv2.COLOR_BGR2RGB
            )
            assert np.array_equal(ops.jpeg(image, quality, encoder), expected), (index, quality)


def test_datasets_hand_encoded_images_only_to_pipelines_that_decode_regions(tiny_synth) -> None:
    """A pipeline of the user's own (no ``decodes_regions``) still gets decoded pixels; ours get
    the encoded image, and both give the same tensors."""
    import torch

    from aigenbench.data.loading import EvaluationDataset, TrainingDataset
    from aigenbench.data.sources import open_source

    source = open_source(tiny_synth)
    generators = source.generators("train")
    ids = list(range(6))
    names = sorted(set(generators))
    seen: list[type] = []

    class OwnPipeline:
        def __init__(self) -> None:
            self.inner = TrainPipeline(input_size=16, maximum_processing_size=20)

        def __call__(self, image, image_id, copy=0, window=0, epoch=0):
            seen.append(type(image))
            return self.inner(image, image_id, copy, window, epoch)

    own = TrainingDataset(source, ids, [generators[i] for i in ids], names, OwnPipeline())
    ours = TrainingDataset(
        source,
        ids,
        [generators[i] for i in ids],
        names,
        TrainPipeline(16, maximum_processing_size=20),
    )
    for index in range(len(ids)):
        assert torch.equal(own[index]["image"], ours[index]["image"])
    assert seen and all(kind is np.ndarray for kind in seen)

    validation = source.generators("validation")
    evaluation = EvalPipeline(input_size=16, maximum_processing_size=20)
    dataset = EvaluationDataset(source, ids, [validation[i] for i in ids], names, evaluation)
    for index, row_id in enumerate(ids):
        pixels = decode_image(source.read("validation", row_id))
        assert torch.equal(dataset[index]["crops"][0], evaluation(pixels, row_id)[0])


def test_crop_if_large_opens_the_header_once_and_a_retry_opens_it_afresh(
    monkeypatch, mini_mix
) -> None:
    opened: list[int] = []
    real_open = decode._open_header

    def counted(data, max_pixels=decode.DEFAULT_MAX_PIXELS):
        opened.append(len(data))
        return real_open(data, max_pixels)

    monkeypatch.setattr(decode, "_open_header", counted)
    image = EncodedImage(mini_mix[4], 1 << 21)
    expected = decode_image(mini_mix[4])[1:6, 2:9]
    opened.clear()
    image.size()
    assert np.array_equal(image.decode((1, 2, 5, 7)), expected)
    assert len(opened) == 1, "size() then decode() of the same bytes read the header twice"
    assert np.array_equal(image.decode((1, 2, 5, 7)), expected)
    assert len(opened) == 2, "a second decode reused a header already used"
    other = EncodedImage(mini_mix[-1], 1 << 21)
    image.size()
    assert np.array_equal(other.decode(), decode_image(mini_mix[-1]))  # not the last header


@pytest.mark.parametrize("max_size", [48, 1080])
def test_training_decodes_only_the_random_resized_crops_box_with_the_same_pixels(
    monkeypatch, mini_mix, max_size: int
) -> None:
    """With the random resized crop drawn, an encoded image decodes only its box (inside
    crop-if-large's region), and the sample equals the one from the decoded image."""
    decoded_regions: list[tuple[int, int, int, int] | None] = []
    real_decode = EncodedImage.decode

    def spy(self, region=None):
        decoded_regions.append(region)
        return real_decode(self, region)

    monkeypatch.setattr(EncodedImage, "decode", spy)
    augmentation = TrainPipeline(input_size=32).augmentation
    augmentation.p_resized_crop = 1.0  # type: ignore[union-attr]
    train = TrainPipeline(
        input_size=32, maximum_processing_size=max_size, augmentation=augmentation
    )
    for image_id, data in enumerate(mini_mix):
        pixels = decode_image(data)
        for copy in range(2):
            decoded_regions.clear()
            from_bytes = train(EncodedImage(data), image_id, copy, window=1, epoch=2)
            assert np.array_equal(from_bytes, train(pixels, image_id, copy, window=1, epoch=2))
            (region,) = decoded_regions
            height, width = pixels.shape[:2]
            rng = sample_rng(Stream.TRAIN_DETERMINISTIC, train.seed, image_id, copy)
            outer = ops.crop_if_large_box(height, width, max_size, rng) or (0, 0, height, width)
            assert rng.random() < 1.0  # the draw of whether the crop applies
            box = ops.random_resized_crop_box(outer[2], outer[3], (0.08, 1.0), (3 / 4, 4 / 3), rng)
            expected = (outer[0] + box[0], outer[1] + box[1], box[2], box[3])
            assert region == (None if expected == (0, 0, height, width) else expected)
