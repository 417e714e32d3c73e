"""Scoring image files with a trained detector (``aigenbench predict``).

Images get the model's own evaluation transform (crop-if-large, then its resize / crop /
multicrop) and **no** benchmark degradations. A file that cannot be read is reported with its
reason and never stops the others.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from aigenbench.data.sources import IMAGE_SUFFIXES
from aigenbench.errors import ConfigError, DataError


@dataclass
class ScoredImage:
    path: Path
    score: float | None
    """Fake probability (None when the file could not be read)."""
    error: str | None = None

    def label(self, threshold: float) -> str:
        if self.score is None:
            return "unreadable"
        return "fake" if self.score > threshold else "real"


def find_images(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given, and the image files (by extension) under folders, recursively, sorted."""
    found: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            found += sorted(
                path
                for path in entry.rglob("*")
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
            )
        elif entry.exists():
            found.append(entry)
        else:
            raise DataError(f"{entry} does not exist; give image files or folders of images")
    if not found:
        raise DataError(
            f"no image found in the given paths (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return found


def resolve_checkpoint(path: str | os.PathLike[str]) -> Path:
    """A ``.ckpt``, a window folder (its ``checkpoints/final.ckpt``) or an experiment folder (its
    last finished window's)."""
    path = Path(path)
    if path.is_file():
        return path
    if (path / "checkpoints" / "final.ckpt").is_file():
        return path / "checkpoints" / "final.ckpt"
    windows = sorted(
        (int(child.name.removeprefix("window_")), child)
        for child in path.glob("window_*")
        if child.name.removeprefix("window_").isdigit()
        and (child / "checkpoints" / "final.ckpt").is_file()
    )
    if windows:
        return windows[-1][1] / "checkpoints" / "final.ckpt"
    raise ConfigError(
        f"no trained detector at {path}: give a .ckpt file, a window folder "
        f"(runs/<id>/window_<k>) or an experiment folder (runs/<id>) with a finished window"
    )


class ImageFiles(Dataset):
    """Item ``i``: the crops of file ``i`` (a placeholder and the reason if it is unreadable)."""

    def __init__(self, files: Sequence[Path], pipeline: Any, max_pixels: int) -> None:
        self.files = list(files)
        self.pipeline = pipeline
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from aigenbench.data.decode import UnreadableImage, decode_file

        try:
            image = decode_file(self.files[index], self.max_pixels)
            return {"crops": self.pipeline(image, index), "index": index, "error": None}
        except UnreadableImage as error:
            return {"crops": self.pipeline.placeholder(), "index": index, "error": error.reason}


def _collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    crops, owner = [], []
    for position, sample in enumerate(samples):
        crops += sample["crops"]
        owner += [position] * len(sample["crops"])
    return {
        "image": torch.stack(crops),
        "crop_to_image": torch.tensor(owner, dtype=torch.int64),
        "index": [sample["index"] for sample in samples],
        "error": [sample["error"] for sample in samples],
    }


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but CUDA is not available here")
    return torch.device(name)


def score_files(
    checkpoint: str | os.PathLike[str],
    files: Sequence[Path],
    *,
    batch_size: int = 32,
    workers: int = 0,
    device: str = "auto",
    max_pixels: int | None = None,
    progress: bool = True,
) -> tuple[list[ScoredImage], Any]:
    """Score ``files`` with the detector in ``checkpoint``; returns the rows and its config."""
    from tqdm import tqdm

    from aigenbench.data.decode import DEFAULT_MAX_PIXELS
    from aigenbench.data.loading import worker_init_fn
    from aigenbench.data.pipelines import EvalPipeline
    from aigenbench.models.build import load_detector
    from aigenbench.models.methods import resolve_method

    # LoRA adapters merged into the weights: the plain backbone's speed
    loaded = load_detector(resolve_checkpoint(checkpoint), merge_adapters=True)
    config = loaded.config
    module = resolve_method(config.method)(
        config,
        loaded.generator_names,
        window=loaded.window,
        known_generator_ids=loaded.known_generator_ids,
        detector=loaded.detector,
    )
    target = pick_device(device)
    module.to(target).eval()
    augmentation = module.eval_augmentation()
    pipeline = EvalPipeline(
        input_size=config.input_size,
        crop=config.eval_crop,
        degradations=False,
        before_crops=augmentation.before_crops if augmentation else None,
        per_crop=augmentation.per_crop if augmentation else None,
        crops=augmentation.crops if augmentation else None,
    )
    loader = DataLoader(
        ImageFiles(files, pipeline, max_pixels or DEFAULT_MAX_PIXELS),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=_collate,
        worker_init_fn=worker_init_fn if workers else None,
    )
    rows: list[ScoredImage] = []
    with (
        torch.inference_mode(),
        tqdm(total=len(files), unit="img", disable=not progress, desc="scoring") as bar,
    ):
        for batch in loader:
            images = batch["image"].to(target)
            crop_to_image = batch["crop_to_image"].to(target)
            scores = module.fake_scores(module({"image": images}))
            fused = module.scores_fusion(scores, crop_to_image).cpu().tolist()
            for index, error, score in zip(batch["index"], batch["error"], fused, strict=True):
                rows.append(ScoredImage(files[index], None if error else float(score), error))
            bar.update(len(batch["index"]))
    return rows, config


def write_scores_csv(rows: Sequence[ScoredImage], threshold: float, handle: Any) -> None:
    """``path,score,label`` (label: fake / real at ``threshold``, or unreadable)."""
    import csv

    writer = csv.writer(handle)
    writer.writerow(("path", "score", "label"))
    for row in rows:
        score = "" if row.score is None else f"{row.score:.6f}"
        writer.writerow((str(row.path), score, row.label(threshold)))
