"""The built-in synthetic benchmark: a small dataset in the official on-disk format, made offline.

**Real images** are patches of the photographs shipped inside scikit-image and scikit-learn, with
the small variations of a camera pipeline (slight blur, sensor noise). **Fake images** come from 16
procedural "generators" with their own names and release dates. Each takes a photo patch (from a
part of the photographs that no real image uses, so content never gives the answer) through a
process that leaves the kind of traces real generators leave, and the processes change over time
like the real ones did:

- 2017: early GANs: nearest/transposed-convolution upsampling (checkerboards), spectral peaks;
- 2018-2019: refined GANs: weaker checkerboards, bicubic upsampling, noise injection;
- 2020-2021: sharpened decoders, vector-quantised tokens, early diffusion (low-pass residue);
- 2022-2024: latent diffusion: invented fine texture, over-sharpening, faint grid fingerprints.

Neighbouring periods share some traces and not others, so a detector trained on the past does
clearly better than chance on the next period, and clearly worse than on the past: the situation
the benchmark measures (``benchmarks/synth_learnability.py`` measures it: a tiny CNN, 2 epochs per
window, scored with the mandatory degradations, gets about 0.9 AUROC on the past periods and 0.6 to
0.75 on the next one, depending on the seed). Every image is stored as PNG or JPEG (the same mix
for real and fake).

Everything is drawn from ``seed``: the same parameters give the same bytes. ``build_synthetic``
caches: a folder built with the same parameters is reused (``synth.json`` records them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

from aigenbench.data.opencv import cv2
from aigenbench.errors import DataError
from aigenbench.protocol import Timeline

SYNTH_VERSION = 4
"""Bumped whenever the images change for the same parameters (invalidates caches)."""
FINGERPRINT_FILE = "synth.json"

Recipe = Callable[[np.ndarray, np.random.Generator, "Fingerprint"], np.ndarray]


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of a synthetic benchmark (all recorded in ``synth.json``)."""

    seed: int = 0
    size: int = 64
    """Side of the (square) images in pixels."""
    per_generator: int = 200
    """Training images per generator (as many real training images as fakes in total)."""
    validation_per_generator: int = 50
    """Validation images per generator (as many real validation images as fakes in total)."""
    generators: int = 16
    """How many generators, taken in release order (4 per window: 16 make 4 windows)."""
    strength: float = 1.0
    """Amplitude of the generators' traces (below 1: a harder benchmark, above: easier)."""

    def validate(self) -> None:
        if self.size < 16:
            raise DataError(f"synthetic images need a size of at least 16 px, got {self.size}")
        if self.per_generator < 2 or self.validation_per_generator < 2:
            raise DataError(
                "the synthetic benchmark needs at least 2 images per generator and split"
            )
        if not 1 <= self.generators <= len(GENERATORS):
            raise DataError(
                f"generators must be between 1 and {len(GENERATORS)}, got {self.generators}"
            )
        if self.seed < 0:
            raise DataError(f"the seed must be >= 0, got {self.seed}")
        if not self.strength > 0:
            raise DataError(f"the strength must be > 0, got {self.strength}")


# ------------------------------------------------------------------------------------ photo pool


def _photos() -> list[tuple[str, np.ndarray]]:
    """The photographs bundled with scikit-image and scikit-learn (no download)."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos: list[tuple[str, np.ndarray]] = []
    for name in (
        "astronaut", "chelsea", "coffee", "rocket", "retina", "hubble_deep_field",
        "immunohistochemistry",
    ):  # fmt: skip
        photos.append((f"skimage.{name}", np.asarray(getattr(skimage.data, name)())[:, :, :3]))
    for name in ("camera", "coins", "clock", "moon", "brick", "grass", "gravel"):
        gray = np.asarray(getattr(skimage.data, name)())
        photos.append((f"skimage.{name}", np.repeat(gray[:, :, None], 3, axis=2)))
    sample = load_sample_images()
    for file_name, image in zip(sample.filenames, sample.images, strict=True):
        photos.append((f"sklearn.{Path(file_name).stem}", np.asarray(image)))
    return [(name, np.ascontiguousarray(image, dtype=np.uint8)) for name, image in photos]


@dataclass(frozen=True)
class Tile:
    photo: int
    top: int
    left: int
    side: int


POOLS = ("real_train", "fake_train", "real_validation", "fake_validation")
# Tiles are dealt to the pools in this repeating order: 40 % / 40 % / 10 % / 10 %.
_DEAL = (0, 1, 0, 1, 2, 3, 0, 1, 0, 1)


@cache
def _tile_pools(size: int, seed: int) -> tuple[tuple[Tile, ...], ...]:
    """Disjoint tiles of the photographs for each pool; every photo feeds every pool."""
    side = size * 3 // 2
    photos = _photos_cached()
    pools: list[list[Tile]] = [[] for _ in POOLS]
    rng = np.random.default_rng([seed, 99])
    for index, (_, photo) in enumerate(photos):
        gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
        tiles = []
        for top in range(0, photo.shape[0] - side + 1, side):
            for left in range(0, photo.shape[1] - side + 1, side):
                patch = gray[top : top + side, left : left + side]
                # Skip flat tiles (black sky, retina background): they would be the same image in
                # every pool.
                if patch.std() > 12 and 16 < patch.mean() < 240:
                    tiles.append(Tile(index, top, left, side))
        order = rng.permutation(len(tiles))
        for position, tile_index in enumerate(order):
            pools[_DEAL[position % len(_DEAL)]].append(tiles[int(tile_index)])
    return tuple(tuple(pool) for pool in pools)


def _patch(tile: Tile, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop of ``tile`` (2/3 to all of its side), flipped/rotated, resized to ``size``."""
    photo = _photos_cached()[tile.photo][1]
    crop = int(rng.integers(tile.side * 2 // 3, tile.side + 1))
    top = tile.top + int(rng.integers(0, tile.side - crop + 1))
    left = tile.left + int(rng.integers(0, tile.side - crop + 1))
    patch = photo[top : top + crop, left : left + crop]
    patch = np.rot90(patch, int(rng.integers(0, 4)))
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    interpolation = cv2.INTER_AREA if crop > size else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(patch), (size, size), interpolation=interpolation)


@cache
def _photos_cached() -> list[tuple[str, np.ndarray]]:
    return _photos()


# ----------------------------------------------------------------------------- image operations
# Float32 images in [0, 255], [H, W, 3].

_INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
}


def _down_up(x: np.ndarray, factor: int, method: str) -> np.ndarray:
    """Generate at ``1/factor`` of the resolution, then upsample (the decoder's last layers)."""
    size = x.shape[0]
    small = cv2.resize(x, (size // factor, size // factor), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (size, size), interpolation=_INTERPOLATIONS[method])


def _tiled(tile: np.ndarray, size: int) -> np.ndarray:
    reps = -(-size // tile.shape[0])
    return np.tile(tile, (reps, reps, 1))[:size, :size]


def _checkerboard(x: np.ndarray, tile: np.ndarray, amplitude: float) -> np.ndarray:
    """Transposed-convolution checkerboard: a gain repeating with the stride, modulating content."""
    return x * (1.0 + amplitude * _tiled(tile, x.shape[0]))


def _grid(x: np.ndarray, tile: np.ndarray, amplitude: float) -> np.ndarray:
    """An additive fixed pattern repeating every ``tile`` pixels: peaks in the spectrum."""
    return x + amplitude * _tiled(tile, x.shape[0])


def _sinusoids(
    x: np.ndarray, period: float, amplitude: float, rng: np.random.Generator
) -> np.ndarray:
    size = x.shape[0]
    phase = rng.uniform(0, 2 * np.pi, size=2)
    axis = np.arange(size, dtype=np.float32) * (2 * np.pi / period)
    wave = np.cos(axis[:, None] + phase[0]) + np.cos(axis[None, :] + phase[1])
    return x + amplitude * wave[:, :, None].astype(np.float32)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _sharpen(x: np.ndarray, sigma: float, amount: float) -> np.ndarray:
    return x + amount * (x - _blur(x, sigma))


def _noise(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32)


def _injected_noise(x: np.ndarray, rng: np.random.Generator, std: float, cell: int) -> np.ndarray:
    """StyleGAN-like noise injection at a lower resolution, upsampled (spatially correlated)."""
    size = x.shape[0]
    small = _noise((size // cell, size // cell, 1), rng) * std
    return x + cv2.resize(small, (size, size), interpolation=cv2.INTER_NEAREST)[:, :, None]


def _residue(x: np.ndarray, rng: np.random.Generator, sigma: float, std: float) -> np.ndarray:
    """What an unfinished denoising leaves: low-pass noise, slightly coloured."""
    noise = _blur(_noise(x.shape, rng), sigma)
    noise *= std / max(float(noise.std()), 1e-6)
    return x + noise


def _texture(x: np.ndarray, rng: np.random.Generator, std: float) -> np.ndarray:
    """Invented fine detail: high-pass noise where the image has edges (latent decoders)."""
    gray = x.mean(axis=2)
    gx, gy = cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)
    strength = _blur(np.sqrt(gx * gx + gy * gy), 2.0)
    strength /= max(float(strength.mean()), 1e-6)
    noise = _noise(x.shape[:2], rng)
    noise -= _blur(noise, 1.0)
    return x + (std * np.clip(strength, 0, 3) * noise)[:, :, None]


def _block_quantize(x: np.ndarray, block: int, keep: int) -> np.ndarray:
    """Vector-quantised tokens: per ``block`` x ``block`` DCT, keep the ``keep`` x ``keep`` lowest
    frequencies (blocky, smooth inside each block)."""
    size = x.shape[0] - x.shape[0] % block
    out = x.copy()
    mask = np.zeros((block, block), np.float32)
    mask[:keep, :keep] = 1.0
    for channel in range(3):
        plane = np.ascontiguousarray(x[:size, :size, channel])
        for top in range(0, size, block):
            for left in range(0, size, block):
                coefficients = cv2.dct(plane[top : top + block, left : left + block]) * mask
                out[top : top + block, left : left + block, channel] = cv2.idct(coefficients)
    return out


def _contrast(x: np.ndarray, factor: float) -> np.ndarray:
    mean = x.mean()
    return mean + factor * (x - mean)


def _saturation(x: np.ndarray, factor: float) -> np.ndarray:
    gray = x.mean(axis=2, keepdims=True)
    return gray + factor * (x - gray)


# ------------------------------------------------------------------------------------- generators


@dataclass(frozen=True)
class Fingerprint:
    """What a generator's traces are made of: fixed patterns ("weights") and their strength.

    Patterns belong to a *lineage*, not to one generator: generators that reuse an architecture
    part (a transposed convolution, a latent decoder) share its pattern, as Stable Diffusion
    versions share their VAE. Lineages link neighbouring periods; each pattern is drawn once from
    the dataset seed.
    """

    seed: int
    strength: float = 1.0
    """Multiplies every trace's amplitude (``SynthConfig.strength``)."""

    def tile(self, lineage: str, period: int, channels: int = 1) -> np.ndarray:
        """The zero-mean ``period`` x ``period`` pattern of ``lineage`` (values in [-1, 1])."""
        return _lineage_tile(self.seed, lineage, period, channels)


@cache
def _lineage_tile(seed: int, lineage: str, period: int, channels: int) -> np.ndarray:
    key = int(hashlib.sha256(lineage.encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng([seed, 7, key, period, channels])
    tile = rng.standard_normal((period, period, channels)).astype(np.float32)
    tile -= tile.mean()
    return tile / max(float(np.abs(tile).max()), 1e-6)


def _jitter(rng: np.random.Generator, value: float, f: Fingerprint) -> float:
    """A trace's amplitude for one image: ``value`` x strength, varying +-30 % between images."""
    return f.strength * value * rng.uniform(0.7, 1.3)


@dataclass(frozen=True)
class SyntheticGenerator:
    name: str
    release_date: str
    family: str
    recipe: Recipe


# Amplitudes are in pixel levels (additive traces) or fractions (gains, sharpening). They were
# tuned with benchmarks/synth_learnability.py so that a tiny CNN trained with the baselines'
# augmentation and scored with the mandatory degradations learns them, yet generalises only
# partly to the next period.

# 2017, early GANs: nearest / transposed-convolution upsampling and spectral peaks.


def _deconv_gan(x, rng, f):
    return _checkerboard(_down_up(x, 2, "nearest"), f.tile("deconv", 2), _jitter(rng, 0.30, f))


def _patch_synth(x, rng, f):
    return _grid(_down_up(x, 2, "bilinear"), f.tile("patch", 4, 3), _jitter(rng, 18.0, f))


def _checker_net(x, rng, f):
    return _checkerboard(_down_up(x, 4, "nearest"), f.tile("deconv4", 4), _jitter(rng, 0.24, f))


def _spectra_gan(x, rng, f):
    y = _sinusoids(x, 8.0, _jitter(rng, 12.0, f), rng)
    return _sinusoids(y, 4.0, _jitter(rng, 9.0, f), rng)


# 2018-2019, refined GANs: smoother upsampling, weaker periodic traces, noise injection.


def _pro_grow(x, rng, f):
    return _checkerboard(_down_up(x, 2, "bilinear"), f.tile("deconv", 2), _jitter(rng, 0.15, f))


def _big_sample(x, rng, f):
    y = _grid(_down_up(x, 2, "bicubic"), f.tile("biggan", 8, 3), _jitter(rng, 15.0, f))
    return _saturation(y, 1.15)


def _style_noise(x, rng, f):
    return _injected_noise(_down_up(x, 2, "bilinear"), rng, _jitter(rng, 15.0, f), 2)


def _gau_paint(x, rng, f):
    y = _checkerboard(_down_up(x, 4, "bilinear"), f.tile("spade", 2), _jitter(rng, 0.09, f))
    return _grid(y, f.tile("patch", 4, 3), _jitter(rng, 9.0, f))


# 2020-2021, decoders and early diffusion: blocks, ringing, sharpening, low-pass residue.


def _style_smooth(x, rng, f):
    y = _sharpen(_down_up(x, 2, "bicubic"), 1.0, _jitter(rng, 2.4, f))
    y = _checkerboard(y, f.tile("deconv", 2), _jitter(rng, 0.06, f))
    return _injected_noise(y, rng, _jitter(rng, 9.0, f), 2)


def _vq_tokens(x, rng, f):
    return _block_quantize(x, 4, 2)


def _diffuse_v1(x, rng, f):
    return _residue(_down_up(x, 2, "bilinear"), rng, 1.0, _jitter(rng, 15.0, f))


def _alias_free(x, rng, f):
    y = _sharpen(_down_up(x, 2, "lanczos"), 1.0, _jitter(rng, 1.2, f))
    return _grid(y, f.tile("alias", 16, 3), _jitter(rng, 24.0, f))


# 2022-2024, latent diffusion: full-resolution detail that was invented (texture), sharpening,
# a faint grid of the latent decoder, residual denoising noise.


def _latent_diff(x, rng, f):
    y = _texture(_down_up(x, 4, "bicubic"), rng, _jitter(rng, 18.0, f))
    return _grid(y, f.tile("vae", 8, 3), _jitter(rng, 6.0, f))


def _latent_diff_xl(x, rng, f):
    y = _contrast(_sharpen(x, 1.0, _jitter(rng, 2.7, f)), 1.1)
    return _residue(y, rng, 0.8, _jitter(rng, 9.0, f))


def _dit_flow(x, rng, f):
    y = _residue(_down_up(x, 2, "bicubic"), rng, 0.7, _jitter(rng, 9.0, f))
    y = _texture(y, rng, _jitter(rng, 9.0, f))
    return _grid(y, f.tile("vae", 8, 3), _jitter(rng, 6.0, f))


def _flow_match(x, rng, f):
    y = _saturation(_texture(x, rng, _jitter(rng, 15.0, f)), 1.15)
    return _grid(y, f.tile("alias", 16, 3), _jitter(rng, 9.0, f))


GENERATORS: tuple[SyntheticGenerator, ...] = (
    SyntheticGenerator("DeconvGAN", "2017-02-10", "early GAN", _deconv_gan),
    SyntheticGenerator("PatchSynth", "2017-05-20", "early GAN", _patch_synth),
    SyntheticGenerator("CheckerNet", "2017-08-15", "early GAN", _checker_net),
    SyntheticGenerator("SpectraGAN", "2017-11-30", "early GAN", _spectra_gan),
    SyntheticGenerator("ProGrow", "2018-04-12", "refined GAN", _pro_grow),
    SyntheticGenerator("BigSample", "2018-09-01", "refined GAN", _big_sample),
    SyntheticGenerator("StyleNoise", "2018-12-20", "refined GAN", _style_noise),
    SyntheticGenerator("GauPaint", "2019-06-05", "refined GAN", _gau_paint),
    SyntheticGenerator("StyleSmooth", "2020-02-14", "decoder", _style_smooth),
    SyntheticGenerator("VQTokens", "2020-09-09", "decoder", _vq_tokens),
    SyntheticGenerator("DiffuseV1", "2021-03-03", "early diffusion", _diffuse_v1),
    SyntheticGenerator("AliasFree", "2021-08-08", "decoder", _alias_free),
    SyntheticGenerator("LatentDiff", "2022-03-22", "latent diffusion", _latent_diff),
    SyntheticGenerator("LatentDiff-XL", "2023-01-18", "latent diffusion", _latent_diff_xl),
    SyntheticGenerator("DiT-Flow", "2023-10-05", "latent diffusion", _dit_flow),
    SyntheticGenerator("FlowMatch", "2024-06-30", "latent diffusion", _flow_match),
)


def synthetic_timeline(generators: int = len(GENERATORS)) -> Timeline:
    return Timeline(
        {g.name: dt.date.fromisoformat(g.release_date) for g in GENERATORS[:generators]},
        source="synthetic benchmark",
    )


# ----------------------------------------------------------------------------------- one image


def _camera(x: np.ndarray, rng: np.random.Generator, f: Fingerprint | None = None) -> np.ndarray:
    """What a camera and its owner do to a real photo: sometimes a little blur or sensor noise."""
    if rng.random() < 0.3:
        x = _blur(x, rng.uniform(0.3, 0.9))
    if rng.random() < 0.3:
        x = x + _noise(x.shape, rng) * rng.uniform(1.0, 3.0)
    return x


def _encode(image: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    """PNG or JPEG (quality 80-97) with equal odds, for real and fake alike."""
    from PIL import Image

    stream = io.BytesIO()
    pil = Image.fromarray(image)
    if rng.random() < 0.5:
        pil.save(stream, format="PNG", compress_level=6)
        return stream.getvalue(), "png"
    pil.save(stream, format="JPEG", quality=int(rng.integers(80, 98)))
    return stream.getvalue(), "jpg"


def _make_image(
    config: SynthConfig,
    split: str,
    generator: int | None,
    index: int,
    fingerprint: Fingerprint,
) -> tuple[bytes, str, str]:
    """(encoded bytes, extension, photo name) of one image; ``generator`` None = real."""
    split_code = 0 if split == "train" else 1
    gen_code = 0 if generator is None else generator + 1
    rng = np.random.default_rng([config.seed, split_code, gen_code, index])
    pool_name = ("real_" if generator is None else "fake_") + split
    pool = _tile_pools(config.size, config.seed)[POOLS.index(pool_name)]
    tile = pool[int(rng.integers(0, len(pool)))]
    x = _patch(tile, config.size, rng).astype(np.float32)
    recipe = _camera if generator is None else GENERATORS[generator].recipe
    x = recipe(x, rng, fingerprint)
    image = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    data, extension = _encode(image, rng)
    return data, extension, _photos_cached()[tile.photo][0]


# --------------------------------------------------------------------------------------- dataset


def _features():
    import datasets

    text = datasets.Value("string")
    return datasets.Features(
        {
            "image": datasets.Image(),
            "height": datasets.Value("int32"),
            "width": datasets.Value("int32"),
            "label": datasets.Value("int64"),
            "generator": text,
            "file_id": text,
            "description": text,
            "positive_prompt": text,
            "negative_prompt": text,
            "conditioning": text,
            "origin_dataset": text,
            "paired_real_images": datasets.Sequence(text),
        }
    )


def _split_rows(config: SynthConfig, split: str, fingerprint: Fingerprint) -> dict[str, list]:
    per = config.per_generator if split == "train" else config.validation_per_generator
    items: list[tuple[int | None, int]] = [
        (generator, index) for generator in range(config.generators) for index in range(per)
    ]
    items += [(None, index) for index in range(per * config.generators)]
    # Rows of all generators interleave, as in a real collection (IDs are not grouped).
    order = np.random.default_rng([config.seed, 5, 0 if split == "train" else 1]).permutation(
        len(items)
    )
    columns: dict[str, list] = {name: [] for name in _features()}
    for position in order:
        generator, index = items[int(position)]
        data, extension, photo = _make_image(config, split, generator, index, fingerprint)
        name = "" if generator is None else GENERATORS[generator].name
        file_id = f"{split}/{name or 'real'}/{index:06d}"
        columns["image"].append({"bytes": data, "path": f"{file_id}.{extension}"})
        columns["height"].append(config.size)
        columns["width"].append(config.size)
        columns["label"].append(0 if generator is None else 1)
        columns["generator"].append(name)
        columns["file_id"].append(file_id)
        if generator is None:
            columns["description"].append(f"patch of the photograph {photo}")
            columns["positive_prompt"].append("")
            columns["conditioning"].append("")
        else:
            family = GENERATORS[generator].family
            columns["description"].append(f"{family} '{name}' rendering of a patch of {photo}")
            columns["positive_prompt"].append(f"a photograph ({photo})")
            columns["conditioning"].append("image")
        columns["negative_prompt"].append("")
        columns["origin_dataset"].append(photo.split(".")[0])
        columns["paired_real_images"].append([])
    return columns


def _fingerprint_text(config: SynthConfig) -> str:
    payload = {"synth_version": SYNTH_VERSION, **asdict(config)}
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


def is_built(out: str | Path, config: SynthConfig) -> bool:
    """True when ``out`` holds a finished synthetic benchmark built with ``config``."""
    out = Path(out)
    marker = out / FINGERPRINT_FILE
    return (
        marker.is_file()
        and (out / "dataset_dict.json").is_file()
        and marker.read_text(encoding="utf-8") == _fingerprint_text(config)
    )


def build_synthetic(
    out: str | Path, config: SynthConfig | None = None, force: bool = False
) -> bool:
    """Write the synthetic benchmark to ``out`` (a DatasetDict + ``timeline.csv`` + ``synth.json``).

    Returns False when ``out`` already held it with the same parameters (nothing written). The
    folder is written beside ``out`` and renamed, so an interrupted build leaves no half dataset.
    A non-empty ``out`` that is not a synthetic benchmark is never overwritten.
    """
    import datasets

    config = config or SynthConfig()
    config.validate()
    out = Path(out)
    if not force and is_built(out, config):
        return False
    if out.exists() and any(out.iterdir()) and not (out / FINGERPRINT_FILE).is_file():
        raise DataError(
            f"{out} exists and is not a synthetic benchmark folder; choose an empty or new folder"
        )
    fingerprint = Fingerprint(config.seed, config.strength)
    features = _features()
    splits = {}
    for split in ("train", "validation"):
        rows = _split_rows(config, split, fingerprint)
        table = datasets.Dataset.from_dict(rows, features=features).data
        digest = hashlib.sha256(f"{_fingerprint_text(config)}{split}".encode()).hexdigest()[:16]
        # A fingerprint from the parameters (not a random one) keeps state.json byte-identical.
        splits[split] = datasets.Dataset(
            table, info=datasets.DatasetInfo(features=features), fingerprint=digest
        )
    staging = out.with_name(f".{out.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        datasets.DatasetDict(splits).save_to_disk(str(staging))
        synthetic_timeline(config.generators).to_csv(staging / "timeline.csv")
        (staging / FINGERPRINT_FILE).write_text(_fingerprint_text(config), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if bars:
            datasets.enable_progress_bars()
    return True
