"""Images per second of the data pipelines on one thread: decode + pipeline + resize to the input
size + normalise (CLIP mean/std, float32), the work a DataLoader worker does per image.

    python benchmarks/pipeline_throughput.py --images DIR --stage {train,eval} --threads 1

``--stage train``: crop-if-large + the baselines' deterministic augmentation + rot90/flip + resize.
``--stage eval``: crop-if-large + the mandatory degradations + resize. If DIR is empty or missing,
it is filled with 512x512 JPEG photos cut from the photographs of scikit-image and scikit-learn.
``--reference`` times the same operations written the way the official framework composes them
(torchvision v2 transforms on PIL images, albumentations' GaussNoise) for a same-machine baseline.
The last line printed is ``img/s: <number>``.

    python benchmarks/pipeline_throughput.py --mix both --rounds 3

compares both side by side on the real-size mixes of ``real_size_mixes.py`` (generated once into
the user's cache folder), both stages, one thread, interleaved: img/s per core, the ratio, the
share of the time spent decoding (for aigenbench: crop-if-large's region only) and the cores needed
to deliver 1,000 img/s, as a Markdown table (the README's).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_size_mixes import MIXES, default_folder, ensure_mix

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def make_photos(folder: Path, count: int = 64, side: int = 512) -> None:
    """``count`` JPEG (quality 90) ``side`` x ``side`` crops of the bundled photographs."""
    import skimage.data
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = [
        np.asarray(getattr(skimage.data, name)())[:, :, :3]
        for name in ("astronaut", "coffee", "chelsea", "rocket", "retina", "hubble_deep_field")
    ]
    photos += list(load_sample_images().images)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        photo = Image.fromarray(photos[index % len(photos)])
        scale = max(side / min(photo.size), 1.0) * rng.uniform(1.0, 1.5)
        photo = photo.resize((round(photo.width * scale), round(photo.height * scale)))
        left = int(rng.integers(0, photo.width - side + 1))
        top = int(rng.integers(0, photo.height - side + 1))
        crop = photo.crop((left, top, left + side, top + side))
        crop.save(folder / f"photo_{index:03d}.jpg", quality=90)


DECODE_SECONDS = [0.0]
"""Time spent decoding inside the pipelines since the last reset (for the decode share)."""


def ours(stage: str, input_size: int):
    """Our pipeline: bytes -> normalised float tensor(s). The image goes in still encoded, as
    the datasets pass it: crop-if-large decodes only its region (timed into DECODE_SECONDS)."""
    from aigenbench.data.decode import EncodedImage
    from aigenbench.data.pipelines import EvalPipeline, TrainPipeline

    class TimedImage(EncodedImage):
        def decode(self, region=None):
            started = CLOCK[0]()
            try:
                return super().decode(region)
            finally:
                DECODE_SECONDS[0] += CLOCK[0]() - started

    mean = torch.tensor(CLIP_MEAN).view(3, 1, 1) * 255
    std = torch.tensor(CLIP_STD).view(3, 1, 1) * 255

    def normalise(tensor: torch.Tensor) -> torch.Tensor:
        return (tensor.float() - mean) / std

    if stage == "train":
        pipeline = TrainPipeline(input_size=input_size, crop="resize")
        return lambda data, image_id: normalise(pipeline(TimedImage(data), image_id, 0, 0, 0))
    evaluation = EvalPipeline(input_size=input_size, crop="resize")
    return lambda data, image_id: [normalise(c) for c in evaluation(TimedImage(data), image_id)]


def reference(stage: str, input_size: int):
    """The same operations composed like the official framework (torchvision v2 on PIL images,
    albumentations for noise and cut-out, scipy for blur), seeded per image the same way."""
    import cv2
    import torchvision.transforms.v2 as T
    from albumentations import CoarseDropout, GaussNoise
    from PIL import Image
    from scipy.ndimage import gaussian_filter
    from torchvision.transforms.v2 import InterpolationMode

    def jpeg(image, qualities):
        array = np.asarray(image)
        quality = min(random.choice(qualities), 100)
        if random.choice(["cv2", "pil"]) == "cv2":
            _, encoded = cv2.imencode(
                ".jpg", array[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality]
            )
            return Image.fromarray(cv2.imdecode(encoded, 1)[:, :, ::-1])
        stream = io.BytesIO()
        Image.fromarray(array).save(stream, format="jpeg", quality=quality)
        return Image.fromarray(np.array(Image.open(stream)))

    def albumentation(transform):
        return T.Lambda(lambda image: Image.fromarray(transform(image=np.asarray(image))["image"]))

    def variable_resized_crop(image):
        side = random.randint(256, 512)
        interpolation = random.choice(
            [InterpolationMode.BILINEAR, InterpolationMode.BICUBIC, InterpolationMode.LANCZOS]
        )
        crop = T.RandomResizedCrop(
            side, scale=(0.5, 1.0), ratio=(0.9, 1 / 0.9), interpolation=interpolation
        )
        return crop(image)

    def crop_if_large(image, random_position: bool):
        width, height = image.size
        if width <= 1080 and height <= 1080:
            return image
        size = (min(height, 1080), min(width, 1080))
        return (T.RandomCrop(size) if random_position else T.CenterCrop(size))(image)

    def blur(image):
        array = np.array(image)
        sigma = random.uniform(0.0, 3.0)
        for channel in range(3):
            gaussian_filter(array[:, :, channel], output=array[:, :, channel], sigma=sigma)
        return Image.fromarray(array)

    finish = T.Compose(
        [
            T.Resize((input_size, input_size)),
            T.ToImage(),
            T.ToDtype(torch.float32, scale=True),
            T.Normalize(CLIP_MEAN, CLIP_STD),
        ]
    )
    if stage == "eval":
        steps = T.Compose(
            [
                T.Lambda(lambda im: crop_if_large(im, random_position=False)),
                T.RandomGrayscale(p=0.1),
                T.RandomApply([T.Lambda(lambda im: jpeg(im, [50, 101]))], p=0.5),
                albumentation(GaussNoise(std_range=(0.015, 0.075), p=0.3)),
                T.RandomApply([T.Lambda(lambda im: jpeg(im, [50, 101]))], p=0.2),
                T.RandomApply([T.Lambda(variable_resized_crop)], p=0.25),
                T.RandomApply([T.Lambda(lambda im: jpeg(im, [50, 101]))], p=0.1),
                finish,
            ]
        )
    else:
        cutout = CoarseDropout(
            num_holes_range=(1, 1),
            hole_height_range=(1, 48),
            hole_width_range=(1, 48),
            fill=128,
            p=0.2,
        )
        steps = T.Compose(
            [
                T.Lambda(lambda im: crop_if_large(im, random_position=True)),
                T.RandomApply(
                    [T.RandomResizedCrop(256, scale=(0.08, 1.0), ratio=(0.75, 1 / 0.75))], p=0.2
                ),
                T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
                T.RandomGrayscale(p=0.2),
                albumentation(cutout),
                albumentation(GaussNoise(p=0.2)),
                T.RandomApply([T.Lambda(blur)], p=0.5),
                T.RandomApply([T.Lambda(lambda im: jpeg(im, list(range(30, 101))))], p=0.5),
                T.Lambda(lambda im: im.rotate(random.choice([0, 90, 180, 270]), expand=True)),
                T.RandomHorizontalFlip(),
                finish,
            ]
        )

    def run(data: bytes, image_id: int):
        seed = 4321 + image_id
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        started = CLOCK[0]()
        image = Image.open(io.BytesIO(data)).convert("RGB")
        DECODE_SECONDS[0] += CLOCK[0]() - started
        return steps(image)

    return run


CLOCK = [time.perf_counter]
"""The clock of the timings: wall time, or this process's CPU time (``--clock cpu``: steadier on
a machine shared with other jobs, as the pipelines run on one thread)."""


def timed_pass(run, blobs: list[bytes]) -> tuple[float, float]:
    """(images per second, share of the time spent decoding) of one pass of ``run``."""
    DECODE_SECONDS[0] = 0.0
    started = CLOCK[0]()
    for image_id, data in enumerate(blobs):
        run(data, image_id)
    seconds = CLOCK[0]() - started
    return len(blobs) / seconds, DECODE_SECONDS[0] / seconds


def compare(blobs: list[bytes], stage: str, input_size: int, rounds: int) -> dict[str, float]:
    """Official-style and aigenbench side by side on the same files, interleaved pass by pass
    (so a change in the machine's load hits both alike); medians over ``rounds``."""
    runs = {"official": reference(stage, input_size), "ours": ours(stage, input_size)}
    for run in runs.values():  # warm-up: imports, caches, allocator
        for image_id, data in enumerate(blobs[:5]):
            run(data, image_id)
    rates: dict[str, list[float]] = {name: [] for name in runs}
    shares: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            speed, share = timed_pass(run, blobs)
            rates[name].append(speed)
            shares[name].append(share)
    result = {name: float(np.median(values)) for name, values in rates.items()}
    result.update({f"{name}_decode_share": float(np.median(shares[name])) for name in runs})
    return result


def table_rows(mix: str, count: int, stage: str, rates: dict[str, float]) -> str:
    """One Markdown row: img/s per core of both, ratio, decode share, cores for 1,000 img/s."""
    official, ours_rate = rates["official"], rates["ours"]
    share_official, share_ours = rates["official_decode_share"], rates["ours_decode_share"]
    label = {"eval": "evaluation", "train": "training"}[stage]
    return (
        f"| {mix} ({count} files) | {label} | {official:.1f} | {ours_rate:.1f} | "
        f"**{ours_rate / official:.2f}x** | {share_official:.0%} / {share_ours:.0%} | "
        f"{1000 / official:.0f} / {1000 / ours_rate:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, help="folder of images (filled if empty)")
    parser.add_argument(
        "--mix",
        choices=(*MIXES, "both"),
        help="compare side by side on a real-size mix (benchmarks/real_size_mixes.py), "
        "both stages, and print a Markdown table",
    )
    parser.add_argument("--mix-folder", type=Path, help="where the mixes are cached")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved passes (--mix)")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="time by the wall clock, or by this process's CPU time (--mix; for shared machines)",
    )
    parser.add_argument("--stage", choices=("train", "eval"), default="eval")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV/torch threads (1)")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--count", type=int, default=400, help="images to process (cycling)")
    parser.add_argument(
        "--reference", action="store_true", help="time the official-style composition"
    )
    args = parser.parse_args()

    import cv2

    from aigenbench.data import opencv  # noqa: F401  (its thread setting, then ours below)

    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    if args.clock == "cpu":
        CLOCK[0] = time.process_time
    if args.mix is not None:
        print(f"load before: {os.getloadavg()[0]:.2f} (1-min average), {os.cpu_count()} cores")
        lines = [
            "| mix | stage | official-style img/s | aigenbench img/s | ratio | decode share "
            "(official / aigenbench) | cores for 1,000 img/s (official / aigenbench) |",
            "|---|---|---|---|---|---|---|",
        ]
        for mix in MIXES if args.mix == "both" else (args.mix,):
            folder = (args.mix_folder / mix) if args.mix_folder else default_folder(mix)
            blobs = [path.read_bytes() for path in ensure_mix(mix, folder)]
            for stage in ("eval", "train"):
                rates = compare(blobs, stage, args.input_size, args.rounds)
                lines.append(table_rows(mix.replace("_", " "), len(blobs), stage, rates))
                print(lines[-1], flush=True)
        print(
            f"load after: {os.getloadavg()[0]:.2f}; one thread each, {args.clock} clock, "
            f"medians of {args.rounds}"
        )
        print("\n".join(lines))
        return
    if args.images is None:
        parser.error("give --images DIR or --mix")
    if not args.images.is_dir() or not any(args.images.iterdir()):
        make_photos(args.images)
        print(f"wrote 64 JPEG photos (512x512) to {args.images}")
    files = sorted(p for p in args.images.iterdir() if p.is_file())
    blobs = [p.read_bytes() for p in files]
    run = (reference if args.reference else ours)(args.stage, args.input_size)
    for image_id in range(min(10, len(blobs))):  # warm-up: imports, caches, allocator
        run(blobs[image_id], image_id)
    started = time.perf_counter()
    for image_id in range(args.count):
        run(blobs[image_id % len(blobs)], image_id)
    seconds = time.perf_counter() - started
    which = "official-style reference" if args.reference else "aigenbench"
    print(f"{which}, stage {args.stage}, {args.count} images, {args.threads} thread(s)")
    print(f"img/s: {args.count / seconds:.1f}")


if __name__ == "__main__":
    main()
