"""Image mixes at the real benchmark's sizes and formats, generated (never committed).

    python benchmarks/real_size_mixes.py --mix proportions --folder DIR

AI-GenBench is not 512 x 512 JPEGs: reals come from COCO/LAION (640 x 480 to ~1024 JPEG) and
RAISE (camera photos, ~4928 x 3264 JPEG, ~2% of the training split); GAN and diffusion fakes are
256-1024 PNG; recent generators (DALL-E 3, Midjourney, SDXL, FLUX) write 1024-2048 PNG or WebP.
Two mixes:

- ``proportions`` (100 files): the training split's proportions: half reals (48 COCO/LAION-like
  JPEGs, 2 RAISE-like 16-MP JPEGs), half fakes (35 PNGs of 256-1024, 15 of 1024-2048 as PNG or
  WebP);
- ``heavy_tail`` (60 files): 15% 16-MP JPEGs, 25% 1024-2048 PNG/WebP, the rest as above.

The pixels are photo-like so that file sizes and decode times are realistic: the photographs
shipped with scikit-image and scikit-learn, upscaled, with fine texture (a second photograph at
its native scale) and sensor-like noise added; never flat colours. Files are written once per
folder (a ``mix.json`` lists them) and reused; the content depends only on the mix name.
``--check-exact`` checks, on every file, that decoding only crop-if-large's region gives the
pixels of the full decode followed by the crop (central and seeded regions), and that training
samples decoding only the random resized crop's box equal those of the decoded image.
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MIXES = ("proportions", "heavy_tail")
VERSION = 1
"""Bump when the generated content changes (a folder of another version is rebuilt)."""


@dataclass(frozen=True)
class FileSpec:
    """One image of a mix: what it stands for, its format and its size."""

    kind: str
    """``coco_laion`` (real JPEG), ``raise`` (16-MP camera JPEG), ``gan_diffusion`` (PNG),
    ``recent`` (1024-2048 PNG or WebP)."""
    format: str
    width: int
    height: int


def mix_specs(mix: str) -> list[FileSpec]:
    """The files of ``mix``: kinds, formats and sizes (drawn from a fixed seed)."""
    if mix not in MIXES:
        raise ValueError(f"unknown mix {mix!r}; use one of {MIXES}")
    rng = np.random.default_rng(18 if mix == "proportions" else 1018)
    counts = (
        {"coco_laion": 48, "raise": 2, "gan_diffusion": 35, "recent": 15}
        if mix == "proportions"
        else {"coco_laion": 20, "raise": 9, "gan_diffusion": 16, "recent": 15}
    )
    specs: list[FileSpec] = []
    for kind, count in counts.items():
        for index in range(count):
            if kind == "coco_laion":
                long_side = int(rng.integers(640, 1025))
                short_side = int(long_side * rng.uniform(0.66, 0.8))
                landscape = rng.random() < 0.7
                width, height = (long_side, short_side) if landscape else (short_side, long_side)
                specs.append(FileSpec(kind, "JPEG", width, height))
            elif kind == "raise":
                landscape = index % 3 != 2
                width, height = (4928, 3264) if landscape else (3264, 4928)
                specs.append(FileSpec(kind, "JPEG", width, height))
            elif kind == "gan_diffusion":
                side = int(rng.choice([256, 512, 768, 1024]))
                specs.append(FileSpec(kind, "PNG", side, side))
            else:
                side = int(rng.choice([1024, 1152, 1344, 1536, 1792, 2048]))
                other = side if rng.random() < 0.6 else int(side * rng.choice([0.75, 0.5625]))
                width, height = (side, other) if rng.random() < 0.5 else (other, side)
                specs.append(FileSpec(kind, "PNG" if index % 2 == 0 else "WEBP", width, height))
    order = rng.permutation(len(specs))
    return [specs[i] for i in order]


def _photos() -> list[np.ndarray]:
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos = [
        np.asarray(getattr(skimage.data, name)())[:, :, :3]
        for name in ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field")
    ]
    return photos + [np.asarray(image)[:, :, :3] for image in load_sample_images().images]


def photo_like(width: int, height: int, rng: np.random.Generator, photos: list[np.ndarray]):
    """An RGB ``uint8`` array: a photograph upscaled to ``width`` x ``height``, a second one
    tiled at native scale as fine texture, and Gaussian noise (sigma 3 levels)."""
    import cv2

    base = photos[int(rng.integers(0, len(photos)))]
    scale = max(width / base.shape[1], height / base.shape[0]) * rng.uniform(1.0, 1.2)
    big = cv2.resize(
        base,
        (max(width, round(base.shape[1] * scale)), max(height, round(base.shape[0] * scale))),
        interpolation=cv2.INTER_CUBIC,
    )
    top = int(rng.integers(0, big.shape[0] - height + 1))
    left = int(rng.integers(0, big.shape[1] - width + 1))
    image = big[top : top + height, left : left + width].astype(np.float32)
    texture = photos[int(rng.integers(0, len(photos)))].astype(np.float32)
    reps = (-(-height // texture.shape[0]), -(-width // texture.shape[1]), 1)
    detail = np.tile(texture, reps)[:height, :width]
    detail -= cv2.GaussianBlur(detail, (0, 0), 3.0)
    image += 0.6 * detail
    image += rng.normal(0.0, 3.0, size=image.shape).astype(np.float32)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def encode(image: np.ndarray, spec: FileSpec, rng: np.random.Generator) -> bytes:
    """The bytes of ``spec``'s file: JPEG at a camera/web quality, PNG, or WebP (lossy)."""
    from PIL import Image

    stream = io.BytesIO()
    pil = Image.fromarray(image)
    if spec.format == "JPEG":
        quality = int(rng.integers(90, 97)) if spec.kind == "raise" else int(rng.integers(75, 96))
        subsampling = 1 if spec.kind == "raise" else 2  # 4:2:2 camera, 4:2:0 web
        pil.save(stream, format="JPEG", quality=quality, subsampling=subsampling)
    elif spec.format == "PNG":
        pil.save(stream, format="PNG", compress_level=6)
    else:
        pil.save(stream, format="WEBP", quality=int(rng.integers(80, 96)))
    return stream.getvalue()


def ensure_mix(mix: str, folder: Path) -> list[Path]:
    """The files of ``mix`` in ``folder``, written unless a complete set is already there."""
    specs = mix_specs(mix)
    listing = folder / "mix.json"
    if listing.is_file():
        recorded = json.loads(listing.read_text())
        files = [folder / name for name in recorded.get("files", [])]
        same = recorded.get("version") == VERSION and recorded.get("mix") == mix
        if same and len(files) == len(specs) and all(path.is_file() for path in files):
            return files
    folder.mkdir(parents=True, exist_ok=True)
    photos = _photos()
    names = []
    for index, spec in enumerate(specs):
        rng = np.random.default_rng([VERSION, MIXES.index(mix), index])
        data = encode(photo_like(spec.width, spec.height, rng, photos), spec, rng)
        extension = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[spec.format]
        name = f"{index:03d}_{spec.kind}_{spec.width}x{spec.height}.{extension}"
        (folder / name).write_bytes(data)
        names.append(name)
    listing.write_text(json.dumps({"mix": mix, "version": VERSION, "files": names}, indent=1))
    return [folder / name for name in names]


def default_folder(mix: str) -> Path:
    """Where a mix is cached when no folder is given (the user's cache directory)."""
    return Path.home() / ".cache" / "aigenbench" / "benchmark_mixes" / f"{mix}_v{VERSION}"


def full_decode(data: bytes) -> np.ndarray:
    """The whole image the way aigenbench decoded before region decoding: OpenCV for JPEG and
    PNG, PIL otherwise, then the EXIF orientation."""
    from PIL import Image

    from aigenbench.data import decode

    image = Image.open(io.BytesIO(data))
    modes = ("RGB", "L", "RGBA", "LA", "P", "PA", "1", "I;16")
    usual = image.format in ("JPEG", "PNG") and image.mode in modes
    array = decode._decode_cv2(data) if usual else None
    if array is None:
        array = decode._decode_pil(image)
    return np.ascontiguousarray(decode.apply_orientation(array, decode._orientation(image)))


def check_exact(files: list[Path], copies: int = 4) -> int:
    """Every file: crop-if-large's region decoded alone (central, and ``copies`` seeded training
    regions) equals the full decode followed by the crop, bit for bit; and ``copies`` training
    samples with the random resized crop drawn (only its box decoded) equal those of the decoded
    image. Returns the regions compared; raises AssertionError naming the first file that
    differs."""
    from aigenbench.data import ops
    from aigenbench.data.decode import EncodedImage, decode_image, decoded_crop_if_large
    from aigenbench.data.pipelines import BaselineTrainAugmentation, TrainPipeline
    from aigenbench.data.seeding import BENCHMARK_AUGMENTATION_SEED, Stream, sample_rng

    augmentation = BaselineTrainAugmentation(p_resized_crop=1.0)
    always_resized_crop = TrainPipeline(input_size=224, augmentation=augmentation)
    compared = 0
    for image_id, path in enumerate(files):
        data = path.read_bytes()
        full = full_decode(data)
        assert np.array_equal(decode_image(data), full), f"{path.name}: full decode differs"
        region = decoded_crop_if_large(EncodedImage(data), 1080)
        assert np.array_equal(region, ops.crop_if_large(full, 1080)), f"{path.name}: central"
        for copy in range(copies):
            keys = (Stream.TRAIN_DETERMINISTIC, BENCHMARK_AUGMENTATION_SEED, image_id, copy)
            region = decoded_crop_if_large(EncodedImage(data), 1080, sample_rng(*keys))
            expected = ops.crop_if_large(full, 1080, sample_rng(*keys))
            assert np.array_equal(region, expected), f"{path.name}: training copy {copy}"
        # The training sample with the random resized crop drawn: only its box is decoded.
        for copy in range(copies):
            from_bytes = always_resized_crop(EncodedImage(data), image_id, copy)
            from_pixels = always_resized_crop(full, image_id, copy)
            assert np.array_equal(from_bytes, from_pixels), f"{path.name}: resized crop {copy}"
        compared += 1 + 2 * copies
    return compared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", choices=MIXES, default="proportions")
    parser.add_argument("--folder", type=Path, default=None, help="where to write (a cache)")
    parser.add_argument(
        "--check-exact",
        action="store_true",
        help="check that region decoding equals the full decode + crop on every file",
    )
    args = parser.parse_args()
    folder = args.folder or default_folder(args.mix)
    files = ensure_mix(args.mix, folder)
    total = sum(path.stat().st_size for path in files)
    print(f"{args.mix}: {len(files)} files, {total / 1e6:.1f} MB in {folder}")
    if args.check_exact:
        compared = check_exact(files)
        print(f"exact: {compared} regions of {len(files)} files equal the full decode + crop")


if __name__ == "__main__":
    main()
