"""``aigenbench export``: a run's detector as a self-contained folder (see ``folder.py``).

The detector is the window's ``final.ckpt`` with LoRA merged; its thresholds and results come
from the run's own evaluation (the window's predictions file, DeLong intervals), never from new
scoring. The same description (:func:`describe`) is what :func:`aigenbench.load_detector` uses
for a run folder, so a run and its export score, decide and identify alike.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from aigenbench import __version__
from aigenbench.errors import ConfigError, DataError
from aigenbench.export.folder import (
    CARD_FILE,
    CONFIG_FILE,
    FORMAT,
    FORMAT_VERSION,
    ONNX_FILE,
    THRESHOLD_NAMES,
    WEIGHTS_FILE,
    ExportedModel,
    build_module,
    eval_pipeline,
)
from aigenbench.files import write_bytes_atomic, write_json_atomic, write_text_atomic

WINDOW_DIR = re.compile(r"^window_(\d+)$")
THRESHOLD_SUBSET = "growing"
"""Thresholds are chosen on the generators released up to the detector's window (its
``growing`` subset): the data a deployer has, none of the generators that came after."""
FPR_THRESHOLDS = {"fpr_1": "tpr_at_fpr_1", "fpr_5": "tpr_at_fpr_5"}


@dataclass
class Source:
    """Where a detector comes from: its checkpoint and, when it sits in a run, the run."""

    checkpoint: Path
    window_dir: Path | None
    run_dir: Path | None
    experiment: str
    window: int


def find_source(path: str | os.PathLike[str]) -> Source:
    """A ``final.ckpt``, a window folder or a run folder (its last finished window)."""
    from aigenbench.inference import resolve_checkpoint

    checkpoint = resolve_checkpoint(path).resolve()
    window_dir = checkpoint.parent.parent
    if checkpoint.parent.name == "checkpoints" and WINDOW_DIR.match(window_dir.name):
        match = WINDOW_DIR.match(window_dir.name)
        assert match is not None
        return Source(
            checkpoint, window_dir, window_dir.parent, window_dir.parent.name, int(match[1])
        )
    return Source(checkpoint, None, None, checkpoint.stem, -1)


def weights_bytes(module: Any) -> bytes:
    """The detector's tensors as a safetensors file (deterministic: sorted names)."""
    from safetensors.torch import save

    state = {
        name: tensor.detach().cpu().contiguous().clone()  # clone: tied tensors saved apart
        for name, tensor in module.detector.state_dict().items()
    }
    return save(state, metadata={"format": "pt"})


def transform_of(module: Any, pipeline: Any) -> dict[str, Any]:
    """The evaluation transform spelled out: what ``predict`` does to an image's pixels."""
    detector = module.detector
    task = module.config.task
    return {
        "decode": "RGB, 8 bits per channel, EXIF orientation applied, alpha dropped",
        "crop_if_larger_than": pipeline.maximum_processing_size,
        "crop": pipeline.crop,
        "input_size": pipeline.input_size,
        "resize_interpolation": "bilinear",
        "normalize": {
            "mean": [float(v) for v in detector.mean.flatten().tolist()],
            "std": [float(v) for v in detector.std.flatten().tolist()],
            "scale": "pixel values 0..255: (x - mean) / std",
        },
        "layout": "NCHW float32, one row per crop",
        "score": "sigmoid(logits[:, 0])"
        if task == "binary"
        else "1 - softmax(logits)[:, 0] (class 0 real; classes not trained yet left out)",
        "fusion": module.config.fusion,
        "label": "fake when the image's score > threshold",
        "method_pixel_hooks": module.eval_augmentation() is not None,
    }


def window_results(source: Source) -> tuple[Any, Any] | None:
    """(the run's evaluation with DeLong intervals, this window's evaluation), or None when
    the run has no predictions for the window (a lone checkpoint)."""
    from aigenbench.evaluation.experiment import evaluate_experiment
    from aigenbench.evaluation.intervals import IntervalOptions

    if source.run_dir is None:
        return None
    try:
        evaluation = evaluate_experiment(source.run_dir, intervals=IntervalOptions("delong"))
    except DataError:
        return None
    for window in evaluation.windows:
        if window.window == source.window:
            return evaluation, window
    return None


def chosen_thresholds(window: Any | None) -> dict[str, float]:
    """0.5, and from the window's evaluation the best-F1 threshold and the thresholds that keep
    at most 1% / 5% of the reals called fake, on :data:`THRESHOLD_SUBSET`."""
    thresholds = {"0.5": 0.5}
    if window is None:
        return thresholds
    best_f1 = window.subsets[THRESHOLD_SUBSET].best_f1_threshold
    if best_f1 is not None:
        thresholds["best_f1"] = float(best_f1)
    calibration = window.calibration.get(THRESHOLD_SUBSET)
    if calibration is not None:
        for name, key in FPR_THRESHOLDS.items():
            value = calibration.threshold_at_fpr.get(key)
            if value is not None:
                thresholds[name] = float(value)
    return thresholds


def headline(window: Any | None) -> dict[str, float]:
    """AUROC % of the window's next / past / growing / whole subsets (those defined)."""
    if window is None:
        return {}
    found = {}
    for name in ("next", "past", "growing", "whole"):
        value = window.subsets[name].auroc
        if value is not None:
            found[name] = 100.0 * float(value)
    return found


def training_generators(source: Source, evaluation: Any | None) -> dict[str, Any]:
    """The generators the detector trained on, with release dates, and those it has not seen."""
    import yaml

    from aigenbench.data.sources import TIMELINE_FILE
    from aigenbench.protocol.timeline import load_timeline

    if evaluation is None or source.run_dir is None:
        return {}
    windows = [list(names) for names in evaluation.timeline]
    settings: dict[str, Any] = {}
    data: dict[str, Any] = {}
    config_file = source.run_dir / "config.yaml"
    if config_file.is_file():
        recorded = yaml.safe_load(config_file.read_text()) or {}
        settings, data = recorded.get("protocol") or {}, recorded.get("data") or {}
    benchmark = str(settings.get("benchmark_type", "cumulative"))
    k = source.window
    if benchmark == "continual_learning":
        trained = windows[k] if k < len(windows) else []
    elif benchmark == "none":
        trained = [name for names in windows for name in names]
    else:
        trained = [name for names in windows[: k + 1] for name in names]
    unseen = [name for names in windows for name in names if name not in trained]
    dates: dict[str, str] = {}
    timeline_file = settings.get("timeline")
    if timeline_file is None and isinstance(data.get("source"), str):
        own = Path(data["source"]) / TIMELINE_FILE  # the dataset's own timeline, as fit reads it
        timeline_file = str(own) if own.is_file() else None
    try:
        timeline = load_timeline(timeline_file)
        dates = {name: timeline[name].isoformat() for name in trained + unseen if name in timeline}
    except Exception:  # a custom timeline no longer at hand: the names still say enough
        dates = {}
    return {
        "benchmark_type": benchmark,
        "generators": trained,
        "unseen_generators": unseen,
        "release_dates": dates,
        "windows": windows,
    }


def describe(
    source: Source, device: str | torch.device = "cpu"
) -> tuple[ExportedModel, bytes, Any]:
    """The detector of ``source`` with the config.json an export writes, its weights file's
    bytes, and the run's results (None without an evaluation)."""
    from aigenbench.models.build import load_detector

    loaded = load_detector(source.checkpoint, merge_adapters=True)
    model_config = replace(loaded.config, pretrained=False)
    module = build_module(
        model_config,
        loaded.generator_names,
        loaded.window,
        loaded.known_generator_ids,
        loaded.detector.state_dict(),
        source.checkpoint,
    )
    weights = weights_bytes(module)
    results = window_results(source)
    evaluation, window = results if results is not None else (None, None)
    window_index = loaded.window if source.window < 0 else source.window
    experiment = source.experiment
    thresholds = chosen_thresholds(window)
    default = "0.5"
    if model_config.classification_threshold != 0.5:  # the run's own setting stays its default
        thresholds["configured"] = float(model_config.classification_threshold)
        default = "configured"
    names = loaded.generator_names
    config: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "aigenbench_version": __version__,
        "detector_id": f"{experiment}-window_{window_index}-"
        f"{hashlib.sha256(weights).hexdigest()[:12]}",
        "experiment": experiment,
        "window": window_index,
        "method": model_config.method,
        "backbone": model_config.backbone,
        "backbone_args": model_config.backbone_args,
        "task": model_config.task,
        "input_size": model_config.input_size,
        "lora_merged": loaded.config.freezing == "lora",
        "transform": {},
        "class_names": ["real", "fake"] if model_config.task == "binary" else ["real", *names[1:]],
        "generator_names": names,
        "known_generator_ids": loaded.known_generator_ids,
        "thresholds": thresholds,
        "threshold": {
            "default": default,
            "names": {
                "0.5": "the fixed threshold",
                "best_f1": "the official best-F1 threshold",
                "fpr_1": "at most 1% of the reals called fake",
                "fpr_5": "at most 5% of the reals called fake",
                "configured": "the run's model.classification_threshold",
            },
            "chosen_on": None
            if window is None
            else {
                "window": window_index,
                "subset": THRESHOLD_SUBSET,
                "file": Path(window.source).name,
            },
        },
        "card_headline": headline(window),
        "training": training_generators(source, evaluation),
        "model": model_config.to_dict(),
        "onnx": None,
    }
    config["threshold"]["names"] = {
        k: v for k, v in config["threshold"]["names"].items() if k in thresholds
    }
    pipeline = eval_pipeline({"transform": _predict_transform(model_config)}, module)
    config["transform"] = transform_of(module, pipeline)
    module.to(device)
    model = ExportedModel(
        module=module,
        model_config=model_config,
        config=config,
        pipeline=pipeline,
        generator_names=names,
        source=source.checkpoint,
    )
    return model, weights, (evaluation, window)


def _predict_transform(model_config: Any) -> dict[str, Any]:
    """``predict``'s pipeline settings: the model config's crop and size, crop-if-large at the
    evaluation pipeline's default."""
    from aigenbench.data.pipelines import EvalPipeline

    defaults = EvalPipeline(degradations=False)
    return {
        "input_size": model_config.input_size,
        "crop": model_config.eval_crop,
        "crop_if_larger_than": defaults.maximum_processing_size,
    }


def _check_output(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; give a folder to export into (-o DIR)")
    if out.is_dir():
        ours = {WEIGHTS_FILE, CONFIG_FILE, CARD_FILE, ONNX_FILE}
        others = sorted(child.name for child in out.iterdir() if child.name not in ours)
        if others:
            raise ConfigError(
                f"{out} already holds other files ({', '.join(others[:3])}); export into an "
                "empty or new folder"
            )


def export(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    threshold: str | None = None,
    onnx: bool = False,
    opset: int | None = None,
) -> dict[str, Any]:
    """Write the detector of ``path`` (run, window or checkpoint) into ``out``; return its
    config.json. ``threshold`` names the default operating threshold."""
    from aigenbench.export.card import render_card

    out = Path(out)
    _check_output(out)
    if threshold is not None and threshold not in (*THRESHOLD_NAMES, "configured"):
        from aigenbench.suggest import did_you_mean

        raise ConfigError(
            f"--threshold {threshold!r} is not a threshold name."
            + did_you_mean(threshold, THRESHOLD_NAMES)
            + f" Use one of {', '.join(THRESHOLD_NAMES)}"
        )
    source = find_source(path)
    model, weights, (evaluation, window) = describe(source)
    config = model.config
    if threshold is not None:
        if threshold not in config["thresholds"]:
            raise ConfigError(
                f"--threshold {threshold} is not available for this detector: its run has no "
                f"evaluation of window {config['window']} (predictions_validate.npz); available: "
                f"{', '.join(config['thresholds'])}"
            )
        config["threshold"]["default"] = threshold
    out.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out / WEIGHTS_FILE, weights)
    if onnx:
        from aigenbench.export.onnx_export import export_onnx

        config["onnx"] = export_onnx(model, out / ONNX_FILE, opset=opset)
    else:
        (out / ONNX_FILE).unlink(missing_ok=True)
    write_text_atomic(out / CARD_FILE, render_card(config, evaluation, window))
    write_json_atomic(out / CONFIG_FILE, config)  # last: it marks the folder as an export
    return config


__all__ = ["THRESHOLD_NAMES", "Source", "describe", "export", "find_source"]
