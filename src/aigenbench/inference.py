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

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Dataset

from aigenbench.data.sources import IMAGE_SUFFIXES
from aigenbench.errors import ConfigError, DataError
from aigenbench.scoring import fuse_mean, image_runs
from aigenbench.training.preemption import active_flag, cluster_plugins


@dataclass
class ScoredImage:
    path: Path
    score: float | None
    """Fake probability (None when the file could not be read)."""
    error: str | None = None
    generator: str | None = None
    """Multiclass detectors: the likeliest generator (among the fake classes)."""

    def label(self, threshold: float) -> str:
        if self.score is None:
            return "unreadable"
        return "fake" if self.score > threshold else "real"


@dataclass
class Scoring:
    """What ``score_files`` found: one row per file (in the given order) and the model used."""

    rows: list[ScoredImage]
    config: Any
    """The detector's ModelConfig (its threshold, task, crops)."""
    checkpoint: Path
    """The checkpoint file the scores come from."""


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


def collate_crops(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    crops: list[torch.Tensor] = []
    owner: list[int] = []
    for position, sample in enumerate(samples):
        crops += sample["crops"]
        owner += [position] * len(sample["crops"])
    per_crop = torch.tensor(owner, dtype=torch.int64)
    index = torch.tensor([sample["index"] for sample in samples], dtype=torch.int64)
    valid = torch.tensor([sample["error"] is None for sample in samples], dtype=torch.bool)
    return {
        "image": torch.stack(crops),
        "crop_to_image": per_crop,
        "id": index[per_crop],  # the file's position in the list, for every crop
        "valid": valid[per_crop],
        "error": [sample["error"] for sample in samples],
    }


class _ReadErrors(Callback):
    """Keeps the reason of every file that could not be read (file position -> reason)."""

    def __init__(self) -> None:
        self.errors: dict[int, str] = {}

    def on_predict_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, *_: Any
    ) -> None:
        ids = batch["id"].cpu().numpy()
        first = ids[image_runs(ids)[0]]
        for position, reason in zip(first.tolist(), batch["error"], strict=True):
            if reason is not None:
                self.errors[position] = reason


def per_image(outputs: Sequence[dict[str, torch.Tensor]], multiclass: bool) -> dict[str, Any]:
    """This process's per-image results: file positions, fused scores and, for multiclass,
    crop-averaged class probabilities."""
    ids = torch.cat([rows["image_id"] for rows in outputs])
    result: dict[str, Any] = {
        "id": ids.numpy(),
        "score": torch.cat([rows["image_score"] for rows in outputs]).float().numpy(),
    }
    if multiclass:
        probabilities = []
        for rows in outputs:
            crop_probabilities = torch.softmax(rows["logits"].float(), dim=1).numpy()
            starts, counts = image_runs(rows["id"].numpy())
            probabilities.append(fuse_mean(crop_probabilities, starts, counts))
        result["probabilities"] = np.concatenate(probabilities)
    return result


def score_files(
    checkpoint: str | os.PathLike[str],
    files: Sequence[Path],
    *,
    batch_size: int = 32,
    workers: int = 0,
    trainer: dict[str, Any] | None = None,
    max_pixels: int | None = None,
    progress: bool = True,
) -> Scoring | None:
    """Score ``files`` with the detector in ``checkpoint`` (a .ckpt, a run or window folder, an
    exported folder) through ``lightning.Trainer.predict``
    (``trainer``: its accelerator, devices, strategy, precision); under DDP every process
    scores its share and rank 0 gets the rows (the other ranks get None)."""
    import lightning as L

    from aigenbench.data.decode import DEFAULT_MAX_PIXELS
    from aigenbench.data.loading import worker_init_fn
    from aigenbench.data.pipelines import EvalPipeline
    from aigenbench.export.folder import is_export_folder, read_export
    from aigenbench.models.build import load_detector
    from aigenbench.models.method_registry import resolve_method
    from aigenbench.training.collect import gather_rows
    from aigenbench.training.progress import WindowProgressBar

    if is_export_folder(checkpoint):  # an exported detector: its config.json's transform
        exported = read_export(checkpoint)
        path, config, module, pipeline = (
            exported.source,
            exported.model_config,
            exported.module,
            exported.pipeline,
        )
        generator_names = exported.generator_names
    else:
        path = resolve_checkpoint(checkpoint)
        # LoRA adapters merged into the weights: the plain backbone's speed
        loaded = load_detector(path, merge_adapters=True)
        config, generator_names = loaded.config, loaded.generator_names
        module = resolve_method(config.method)(
            config,
            loaded.generator_names,
            window=loaded.window,
            known_generator_ids=loaded.known_generator_ids,
            detector=loaded.detector,
        )
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
        collate_fn=collate_crops,
        worker_init_fn=worker_init_fn if workers else None,
    )
    errors = _ReadErrors()
    runner = L.Trainer(
        **{"accelerator": "auto", "devices": 1, **(trainer or {})},
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        callbacks=[*([WindowProgressBar()] if progress else []), errors, *_stop_on_signal()],
        plugins=cluster_plugins(active_flag()),
    )
    outputs = runner.predict(module, dataloaders=loader, return_predictions=True)
    multiclass = config.task == "multiclass"
    local = per_image(outputs or [], multiclass)  # type: ignore[arg-type]
    parts = gather_rows(local, runner.world_size)
    all_errors: list[Any] = [errors.errors]
    if runner.world_size > 1 and torch.distributed.is_initialized():
        all_errors = [None] * runner.world_size
        torch.distributed.all_gather_object(all_errors, errors.errors)
        if torch.distributed.get_rank() != 0:
            return None
    reasons = {k: v for part in all_errors for k, v in part.items()}
    scores: dict[int, float] = {}
    likeliest: dict[int, str] = {}
    for part in parts:  # a distributed sampler repeats a few files to even the shares
        for position, (file_id, score) in enumerate(zip(part["id"], part["score"], strict=True)):
            scores[int(file_id)] = float(score)
            if multiclass:
                fake_class = 1 + int(np.argmax(part["probabilities"][position][1:]))
                likeliest[int(file_id)] = generator_names[fake_class]
    rows = [
        ScoredImage(
            file,
            None if index in reasons else scores[index],
            reasons.get(index),
            None if index in reasons else likeliest.get(index),
        )
        for index, file in enumerate(files)
    ]
    return Scoring(rows, config, path)


def _stop_on_signal() -> list[Callback]:
    """Under ``aigenbench predict``: stop after the batch when the cluster asks (a rerun scores
    the images again; nothing is written before the end)."""
    from aigenbench.training.interrupts import StopEvaluationOnSignal

    flag = active_flag()
    return [StopEvaluationOnSignal(flag, "while scoring the images")] if flag else []


def write_scores_csv(rows: Sequence[ScoredImage], threshold: float, handle: Any) -> None:
    """``path,score,label`` (label: fake / real at ``threshold``, or unreadable), and for a
    multiclass detector ``generator`` (the likeliest one); Unix line ends."""
    import csv

    writer = csv.writer(handle, lineterminator="\n")  # not the csv module's CRLF
    multiclass = any(row.generator is not None for row in rows)
    writer.writerow(("path", "score", "label", *(("generator",) if multiclass else ())))
    for row in rows:
        score = "" if row.score is None else f"{row.score:.6f}"
        extra = (row.generator or "",) if multiclass else ()
        writer.writerow((str(row.path), score, row.label(threshold), *extra))
