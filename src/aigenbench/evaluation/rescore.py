"""Scores proven by the weights: ``bundle --weights`` packs each window's final detector,
``verify --rescore N`` scores N evaluation images per window again from it and compares.

**Packing.** Each window's ``checkpoints/final.ckpt`` (read with ``weights_only``) gives its
detector tensors and the plain-data record that rebuilds the network (model config, generator
names, trained classes, frozen backbone). The tensors of every window go into one
``weights.safetensors``, keyed by the SHA-256 of their dtype, shape and bytes, so a tensor
equal in several windows (a frozen backbone) is stored once; ``window_<k>/weights.json`` holds
the window's record and maps each parameter name to its tensor's key.

**Rescoring.** For each window, N evaluation images are drawn (without replacement) by
``numpy.random.default_rng([seed, window])``; the detector is rebuilt from the record
(``build_detector`` with random weights, then every tensor loaded, strict) and wrapped in its
method's LightningModule; the images go through the run's own evaluation path: the dataset's
bytes, ``make_eval_pipeline`` from the bundled ``data:`` settings (mandatory degradations
seeded by image ID, the method's evaluation augmentation, crops) and ``Trainer.validate`` on
the CPU in float32. Every crop score is compared with the submitted one.

**Tolerance.** A fake score is ``sigmoid(logit)`` (or ``1 - softmax``), whose slope is at most
1/4, so a score moves at most a quarter of its logit's rounding error. The run may have been
scored on another machine in another precision: on NVIDIA GPUs ``32-true`` convolutions use
TF32 (10-bit mantissa, unit roundoff u = 2^-11 ~ 4.9e-4); ``16-mixed`` keeps activations in
float16 (u = 2^-11 through the whole network); ``bf16-mixed`` in bfloat16 (u = 2^-8 ~ 3.9e-3).
The tolerance on a probability is a few times that roundoff, for the error a deep network
accumulates: ``64``: 1e-6, ``32``: 2e-3, ``16``: 2e-2, ``bf16``: 5e-2 (an unknown precision
gets the loosest). Forging a score to change a metric moves it by more; an image is drawn
with probability N / (evaluation images), so a forgery of a fraction f of the images escapes
N draws with probability about (1 - f)^N per window.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aigenbench.errors import AigenbenchError, DataError
from aigenbench.evaluation.bundle_archive import read_json, section

if TYPE_CHECKING:
    import torch

    from aigenbench.evaluation.bundle import Verification, _Opened
    from aigenbench.protocol import BenchmarkPlan
    from aigenbench.protocol.selection import Stage

WEIGHTS = "weights.safetensors"
WINDOW_WEIGHTS = "weights.json"
DETECTOR_PREFIX = "detector."
PRECISION_TOLERANCE = {"64": 1e-6, "32": 2e-3, "16": 2e-2, "bf16": 5e-2}
"""Largest accepted difference of a fake probability, by the run's ``trainer.precision``."""
CHECK = "rescore"


def tolerance(precision: Any) -> tuple[float, str]:
    """The tolerance for a run's ``trainer.precision`` and the name it was matched by."""
    text = str(precision if precision is not None else "32-true")
    for name in ("bf16", "64", "32", "16"):
        if text.startswith(name):
            return PRECISION_TOLERANCE[name], text
    return max(PRECISION_TOLERANCE.values()), f"{text} (unknown: the loosest tolerance)"


def _digest(tensor: torch.Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and bytes (any dtype, bfloat16 included)."""
    import torch

    digest = hashlib.sha256(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
    if tensor.numel():
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def pack_weights(windows: Mapping[int, Path]) -> dict[str, bytes]:
    """The bundle members that hold the final weights of every window (by window folder)."""
    from safetensors.torch import save

    from aigenbench.models.build import checkpoint_record, read_checkpoint

    stored: dict[str, torch.Tensor] = {}
    members: dict[str, bytes] = {}
    for step, directory in sorted(windows.items()):
        path = directory / "checkpoints" / "final.ckpt"
        if not path.is_file():
            raise DataError(
                f"window {step} has no checkpoints/final.ckpt: --weights packs every window's "
                "final weights; finish the run with `aigenbench fit`, or bundle without --weights"
            )
        content = read_checkpoint(path)
        record = checkpoint_record(content, path)
        names: dict[str, str] = {}
        for key, tensor in content["state_dict"].items():
            if not key.startswith(DETECTOR_PREFIX):
                continue
            tensor = tensor.detach().cpu().contiguous()
            digest = _digest(tensor)
            stored.setdefault(digest, tensor.clone())
            names[key[len(DETECTOR_PREFIX) :]] = digest
        document = {
            "window": step,
            "model_config": record["model_config"],
            "generator_names": [str(n) for n in record.get("generator_names", [""])],
            "known_generator_ids": record.get("known_generator_ids"),
            "backbone_frozen": bool(record.get("backbone_frozen", False)),
            "tensors": names,
        }
        members[f"window_{step}/{WINDOW_WEIGHTS}"] = json.dumps(document, indent=1).encode()
    members[WEIGHTS] = save(stored)
    return members


def _refusal(config: dict[str, Any]) -> str | None:
    """Why the bundled config cannot be rescored without importing code it names (or None)."""
    from aigenbench.models.method_registry import available_methods

    data = section(config, "data", "config.yaml")
    if data.get("eval_pipeline"):
        return f"data.eval_pipeline names code ({data['eval_pipeline']!r})"
    imports = section(config, "experiment", "config.yaml").get("imports") or []
    if imports:
        return f"experiment.imports names code ({imports!r})"
    method = section(config, "model", "config.yaml").get("method", "default")
    if method not in available_methods():
        return f"model.method {method!r} is not a built-in method"
    return None


def _data_config(config: dict[str, Any]) -> Any:
    from aigenbench.data.config import DataConfig

    values = dict(section(config, "data", "config.yaml"))
    known = {f.name for f in fields(DataConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise DataError(f"config.yaml in the bundle: unknown key(s) {unknown} under data:")
    values.pop("source", None)
    values["num_workers"] = 0
    return DataConfig(**values)


def _module(document: dict[str, Any], tensors: Mapping[str, torch.Tensor], member: str) -> Any:
    """The window's LightningModule with its bundled weights (eval mode)."""
    from aigenbench.models.build import build_detector
    from aigenbench.models.config import ModelConfig
    from aigenbench.models.method_registry import available_methods, resolve_method

    config = ModelConfig.from_dict(dict(document["model_config"]))
    if config.method not in available_methods():
        raise DataError(
            f"{member} in the bundle names the method {config.method!r}, not a built-in one"
        )
    names = [str(n) for n in document["generator_names"]]
    detector = build_detector(replace(config, pretrained=False), names, pretrained=False)
    mapping = document["tensors"]
    if not isinstance(mapping, dict) or any(key not in tensors for key in mapping.values()):
        raise DataError(f"{member} in the bundle names tensors that {WEIGHTS} does not hold")
    missing, unexpected = detector.load_state_dict(
        {name: tensors[key] for name, key in mapping.items()}, strict=False
    )
    if missing or unexpected:
        raise DataError(
            f"{member} in the bundle does not fit the detector its config describes: missing "
            f"{missing[:3]}, unexpected {unexpected[:3]}"
        )
    if document.get("backbone_frozen"):
        detector.freeze_backbone()
    detector.eval()
    known = document.get("known_generator_ids")
    return resolve_method(config.method)(
        config,
        names,
        window=int(document["window"]),
        known_generator_ids=None if known is None else [int(i) for i in known],
        detector=detector,
    )


def crop_scores(
    module: Any,
    source: Any,
    plan: BenchmarkPlan,
    ids: np.ndarray,
    data_config: Any,
    stage: Stage = "validate",
    precision: str = "32-true",
) -> dict[int, np.ndarray]:
    """The crop scores of ``ids`` through the run's evaluation path, by image ID."""
    import lightning as L
    from torch.utils.data import DataLoader

    from aigenbench.data.batch import collate_evaluation, concat_eval_outputs
    from aigenbench.data.datamodule import make_eval_pipeline
    from aigenbench.data.loading import EvaluationDataset

    config = module.config
    pipeline = make_eval_pipeline(
        data_config, config.input_size, config.eval_crop, module.eval_augmentation()
    )
    evaluation = plan.evaluation(stage)
    generator_of = dict(zip(evaluation.ids, evaluation.generators, strict=True))
    dataset = EvaluationDataset(
        source,
        ids.tolist(),
        [generator_of[int(i)] for i in ids],
        plan.generator_names,
        pipeline,
        split="validation",
        max_pixels=data_config.max_image_pixels,
    )
    loader = DataLoader(
        dataset, batch_size=data_config.eval_batch_size, collate_fn=collate_evaluation
    )
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        precision=precision,  # type: ignore[arg-type]
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.validate(module, dataloaders=loader, verbose=False)
    rows = concat_eval_outputs(module.eval_outputs)
    return {int(i): rows["score"][rows["id"] == i] for i in ids}


def draw(image_ids: np.ndarray, n: int, seed: int, window: int) -> np.ndarray:
    """``n`` of the evaluation ``image_ids`` for ``window`` (sorted), by (seed, window) alone."""
    pool = np.sort(np.asarray(image_ids, dtype=np.int64))
    rng = np.random.default_rng([seed, window])
    return np.sort(rng.choice(pool, size=min(n, len(pool)), replace=False))


def check_rescore(
    result: Verification,
    opened: _Opened,
    plan: BenchmarkPlan | None,
    source: Any,
    why_no_plan: str,
    n: int,
    seed: int | None,
) -> None:
    """The ``rescore`` check (module docstring)."""
    if plan is None or source is None:
        result.skip(CHECK, f"could not run: {why_no_plan}")
        return
    if opened.config is None:
        result.skip(CHECK, "could not run: no config.yaml in the bundle (the data settings)")
        return
    if not (opened.root / WEIGHTS).is_file():
        result.skip(
            CHECK,
            "could not run: the bundle holds no weights; make it with `aigenbench bundle RUN "
            "-o ZIP --weights`",
        )
        return
    refusal = _refusal(opened.config)
    if refusal is not None:
        result.skip(CHECK, f"could not run: {refusal}; verify imports nothing a bundle names")
        return
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    seed = secrets.randbits(32) if seed is None else seed
    limit, precision = tolerance(section(opened.config, "trainer", "config.yaml").get("precision"))
    data_config = _data_config(opened.config)
    try:
        tensors = load_file(opened.root / WEIGHTS)
    except (SafetensorError, OSError, ValueError) as error:
        raise DataError(f"{WEIGHTS} in the bundle cannot be read ({error})") from None
    problems: list[str] = []
    largest = 0.0
    checked = 0
    for step, predictions in sorted(opened.predictions.items()):
        member = f"window_{step}/{WINDOW_WEIGHTS}"
        if not (opened.root / member).is_file():
            problems.append(f"window {step}: no {WINDOW_WEIGHTS}")
            continue
        document = read_json(opened.root, member)
        if document.get("window") != step:
            problems.append(
                f"window {step}: its {WINDOW_WEIGHTS} is window {document.get('window')}'s"
            )
            continue
        try:
            module = _module(document, tensors, member)
        except AigenbenchError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise DataError(f"{member} in the bundle cannot rebuild a detector ({error})") from None
        crop_ids = np.asarray(predictions.crop_identifiers, dtype=np.int64)
        submitted_scores = np.asarray(predictions.crop_scores, dtype=np.float64).reshape(-1)
        ids = draw(np.asarray(predictions.fused_identifiers), n, seed, step)
        recomputed = crop_scores(module, source, plan, ids, data_config, opened.stage)
        off = []
        for image_id in ids.tolist():
            submitted = submitted_scores[crop_ids == image_id]
            again = recomputed[image_id].astype(np.float64)
            if submitted.shape != again.shape:
                off.append(f"image {image_id}: {len(submitted)} crops submitted, {len(again)} made")
                continue
            difference = float(np.max(np.abs(submitted - again))) if len(again) else 0.0
            largest = max(largest, difference)
            if difference > limit:
                off.append(
                    f"image {image_id}: submitted {submitted.max():.6f}, scored again "
                    f"{again.max():.6f}"
                )
        checked += len(ids)
        if off:
            problems.append(
                f"window {step}: {len(off)} of {len(ids)} image(s) not scored as submitted ("
                + "; ".join(off[:3])
                + ")"
            )
    result.add(
        CHECK,
        problems and [*problems, f"seed {seed}, tolerance {limit:g} for precision {precision}"],
        f"{checked} images ({n} per window, seed {seed}) scored again from the bundled weights "
        f"equal the submitted scores within {limit:g} (precision {precision}); largest "
        f"difference {largest:.2g}",
    )
