"""A checkable submission: ``bundle`` packs a run into one zip, ``verify`` re-checks it.

A bundle holds what is needed to recompute and audit every number: each window's
predictions file and ``membership.json``, the resolved ``config.yaml``, ``summary.json`` and
the window ``metrics.json`` files when present, ``environment.json`` (Python, platform,
package versions) and ``manifest.json``, written last: the SHA-256 of every other file and
the metrics computed at bundling time.

``verify`` runs these checks, each passed, failed or skipped with the reason:

- **hashes**: every file listed in the manifest is there, unchanged;
- **numbers**: every metric recomputed from the predictions equals the manifest's (1e-9),
  and the headline of ``summary.json`` (when bundled) equals the recomputed one;
- **windows**: a predictions file for every window 0..K-1, all with one timeline; with the
  dataset, that timeline is the one the protocol gives;
- **training membership**: each window's training IDs equal the protocol's plan, rebuilt with
  :func:`aigenbench.protocol.make_plan` from the dataset's generator columns and the run's
  protocol settings (needs the dataset: ``data.source`` of the config, or ``--dataset``);
- **evaluation set**: every window scored exactly the evaluation IDs (no image missing or
  extra), each real paired as the protocol pairs it, as many paired reals as fakes per
  generator;
- **degradations**: the mandatory evaluation degradations were on, with the official JPEG
  qualities and seed; when the predictions record each image's degradations (key
  ``degradations``), the codes are the ones (seed, image ID) gives.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from aigenbench import __version__
from aigenbench.errors import DataError
from aigenbench.evaluation.experiment import (
    METRICS_FILE,
    SUMMARY_FILE,
    SUMMARY_KEY,
    discover_predictions,
    evaluate_experiment,
    headline,
)
from aigenbench.evaluation.predictions import load_predictions
from aigenbench.files import write_bytes_atomic

MANIFEST = "manifest.json"
ENVIRONMENT = "environment.json"
CONFIG = "config.yaml"
MEMBERSHIP = "membership.json"
FORMAT = "aigenbench-bundle/1"
PACKAGES = ("numpy", "scikit-learn", "scipy", "torch", "lightning", "timm", "open_clip_torch")
OFFICIAL_JPEG_QUALITIES = [50, 101]
BENCHMARK_DEGRADATION_SEED = 4321
TOLERANCE = 1e-9


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def environment() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "aigenbench": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
    }


@dataclass
class Bundle:
    path: Path
    files: list[str]
    n_windows: int


def write_bundle(
    run_dir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    stage: str = "validate",
) -> Bundle:
    """Pack ``run_dir`` into the zip ``output`` (see the module docstring)."""
    run_dir = Path(run_dir)
    predictions = discover_predictions(run_dir, stage)
    evaluation = evaluate_experiment(run_dir, stage)
    members: dict[str, Path] = {}
    for step, path in predictions.items():
        members[f"window_{step}/{path.name}"] = path
        for name in (MEMBERSHIP, METRICS_FILE):
            extra = path.parent / name
            if extra.is_file():
                members[f"window_{step}/{name}"] = extra
    for name in (CONFIG, SUMMARY_FILE):
        if (run_dir / name).is_file():
            members[name] = run_dir / name
    manifest = {
        "format": FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "run": run_dir.resolve().name,
        "stage": stage,
        "predictions": {str(step): f"window_{step}/{p.name}" for step, p in predictions.items()},
        "sha256": {name: _sha256(path) for name, path in members.items()},
        "metrics": _numbers(evaluation.to_json()),
    }
    env = json.dumps(environment(), indent=2).encode()
    manifest["sha256"][ENVIRONMENT] = hashlib.sha256(env).hexdigest()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        temporary = Path(scratch) / "bundle.zip"
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, path in members.items():
                archive.write(path, name)
            archive.writestr(ENVIRONMENT, env)
            archive.writestr(MANIFEST, json.dumps(manifest, indent=2, allow_nan=False))
        write_bytes_atomic(output, temporary.read_bytes())
    return Bundle(output, sorted([*members, ENVIRONMENT, MANIFEST]), len(predictions))


def _numbers(document: Any) -> Any:
    """The metrics without what depends on where the files lay (their paths)."""
    if isinstance(document, dict):
        return {k: _numbers(v) for k, v in document.items() if k != "file"}
    if isinstance(document, list):
        return [_numbers(v) for v in document]
    return document


# ----------------------------------------------------------------------------- verify


@dataclass
class Check:
    name: str
    status: str
    """``pass``, ``fail`` or ``skip``."""
    detail: str


@dataclass
class Verification:
    bundle: Path
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    def add(self, name: str, problems: list[str], passed: str) -> None:
        if problems:
            shown = "; ".join(problems[:5]) + (
                f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
            )
            self.checks.append(Check(name, "fail", shown))
        else:
            self.checks.append(Check(name, "pass", passed))

    def skip(self, name: str, reason: str) -> None:
        self.checks.append(Check(name, "skip", reason))

    def to_json(self) -> dict[str, Any]:
        return {
            "bundle": str(self.bundle),
            "ok": self.ok,
            "checks": [check.__dict__ for check in self.checks],
        }


def _differences(claimed: Any, recomputed: Any, where: str = "") -> list[str]:
    if isinstance(claimed, dict) and isinstance(recomputed, dict):
        problems = []
        for key in sorted(set(claimed) | set(recomputed)):
            if key not in claimed or key not in recomputed:
                problems.append(f"{where}{key}: in only one of them")
                continue
            problems += _differences(claimed[key], recomputed[key], f"{where}{key}.")
        return problems
    if isinstance(claimed, list) and isinstance(recomputed, list):
        if len(claimed) != len(recomputed):
            return [f"{where.rstrip('.')}: {len(claimed)} entries claimed, {len(recomputed)} found"]
        problems = []
        for index, (a, b) in enumerate(zip(claimed, recomputed, strict=True)):
            problems += _differences(a, b, f"{where}{index}.")
        return problems
    both_numbers = isinstance(claimed, int | float) and isinstance(recomputed, int | float)
    if both_numbers and not isinstance(claimed, bool):
        if math.isclose(float(claimed), float(recomputed), rel_tol=0, abs_tol=TOLERANCE):
            return []
        return [f"{where.rstrip('.')}: claimed {claimed!r}, recomputed {recomputed!r}"]
    if claimed != recomputed:
        return [f"{where.rstrip('.')}: claimed {claimed!r}, recomputed {recomputed!r}"]
    return []


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{path.name} in the bundle cannot be read ({error})") from None


def verify_bundle(
    bundle: str | os.PathLike[str], dataset: str | os.PathLike[str] | None = None
) -> Verification:
    """Every check of the module docstring; ``dataset`` overrides the config's ``data.source``."""
    bundle = Path(bundle)
    if not bundle.is_file():
        raise DataError(f"bundle {bundle} does not exist; make one with `aigenbench bundle RUN`")
    result = Verification(bundle)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        try:
            with zipfile.ZipFile(bundle) as archive:
                for name in archive.namelist():
                    if name.startswith("/") or ".." in Path(name).parts:
                        raise DataError(f"{bundle}: unsafe path {name!r} inside the zip")
                archive.extractall(root)
        except zipfile.BadZipFile:
            raise DataError(f"{bundle} is not a zip file (or is corrupt)") from None
        if not (root / MANIFEST).is_file():
            raise DataError(f"{bundle} has no {MANIFEST}: it was not made by `aigenbench bundle`")
        manifest = _read_json(root / MANIFEST)
        _check_hashes(result, root, manifest)
        stage = manifest.get("stage", "validate")
        config = _config(root)
        _check_numbers(result, root, manifest, stage)
        plan, why_no_plan = _plan(config, dataset)
        images = _check_windows(result, root, stage, plan, why_no_plan)
        _check_membership(result, root, images, plan, why_no_plan)
        _check_evaluation_set(result, root, images, plan, why_no_plan, stage)
        _check_degradations(result, config, images)
    return result


def _check_hashes(result: Verification, root: Path, manifest: dict[str, Any]) -> None:
    problems = []
    listed = manifest.get("sha256", {})
    for name, digest in listed.items():
        path = root / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif _sha256(path) != digest:
            problems.append(f"{name} was changed after bundling")
    extra = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and str(p.relative_to(root)) not in listed and p.name != MANIFEST
    )
    problems += [f"{name} is not in the manifest" for name in extra]
    result.add("hashes", problems, f"{len(listed)} files match their SHA-256")


def _check_numbers(result: Verification, root: Path, manifest: dict[str, Any], stage: str) -> None:
    try:
        evaluation = evaluate_experiment(root, stage)
    except Exception as error:  # a broken file: the check fails, the others still run
        result.add("numbers", [f"cannot recompute: {error}"], "")
        return
    recomputed = _numbers(json.loads(json.dumps(evaluation.to_json(), allow_nan=False)))
    problems = _differences(manifest.get("metrics"), recomputed)
    summary_path = root / SUMMARY_FILE
    if summary_path.is_file():
        summary = _read_json(summary_path).get(SUMMARY_KEY, {})
        claimed = summary.get("headline")
        if claimed is not None:
            problems += [
                f"summary.json headline {p}" for p in _differences(claimed, headline(evaluation))
            ]
    result.add(
        "numbers",
        problems,
        f"every metric of {len(evaluation.windows)} window(s) recomputed from the predictions "
        f"equals the bundle's (to {TOLERANCE:g})",
    )


def _config(root: Path) -> dict[str, Any] | None:
    path = root / CONFIG
    if not path.is_file():
        return None
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise DataError(f"config.yaml in the bundle is not valid YAML ({error})") from None
    return loaded if isinstance(loaded, dict) else None


def _plan(config: dict[str, Any] | None, dataset: str | os.PathLike[str] | None):
    """The protocol's plan for the run's dataset, or (None, why not)."""
    data = (config or {}).get("data") or {}
    source = dataset if dataset is not None else data.get("source")
    if not source:
        return None, "no dataset: pass --dataset PATH (the config names none)"
    if not Path(source).exists():
        return None, f"dataset {source} not found here: pass --dataset PATH"
    from aigenbench.data.sources import open_source
    from aigenbench.protocol import ProtocolConfig, Timeline, load_timeline, make_plan

    protocol = ProtocolConfig(**((config or {}).get("protocol") or {}))
    opened = open_source(source, data.get("source_kind", "auto") if dataset is None else "auto")
    if protocol.timeline:
        timeline = load_timeline(protocol.timeline)
    else:
        timeline = opened.timeline if opened.timeline is not None else Timeline.builtin()
    plan = make_plan(
        opened.generators("train"), opened.generators("validation"), protocol, timeline
    )
    return plan, ""


def _check_windows(result, root: Path, stage: str, plan, why_no_plan: str):
    try:
        files = discover_predictions(root, stage)
    except DataError as error:
        result.add("windows", [str(error)], "")
        return {}
    loaded = {}
    for step, path in files.items():
        loaded[step] = load_predictions(path)
    timelines = {json.dumps(p.windows_timeline) for p in loaded.values()}
    problems = []
    if len(timelines) > 1:
        problems.append("the predictions files disagree on the windows")
    first = loaded[min(loaded)]
    n_windows = len(first.windows_timeline)
    missing = sorted(set(range(n_windows)) - set(loaded))
    if missing:
        problems.append(f"no predictions for window(s) {missing} of 0..{n_windows - 1}")
    if plan is not None and first.windows_timeline != plan.windows:
        problems.append("the windows are not the protocol's for this dataset")
    detail = f"{n_windows} windows, each with its predictions"
    if plan is None:
        detail += f" (not compared with the protocol's windows: {why_no_plan})"
    result.add("windows", problems, detail)
    return loaded


def _check_membership(result, root: Path, images, plan, why_no_plan: str) -> None:
    if plan is None:
        result.skip("training membership", why_no_plan)
        return
    problems = []
    for step in range(plan.n_windows):
        path = root / f"window_{step}" / MEMBERSHIP
        if not path.is_file():
            problems.append(f"window {step}: no {MEMBERSHIP}")
            continue
        membership = _read_json(path)
        expected = plan.training_ids(step)
        found = membership.get("train_ids", [])
        if sorted(found) != sorted(expected):
            extra = len(set(found) - set(expected))
            lacking = len(set(expected) - set(found))
            problems.append(
                f"window {step}: training IDs differ from the protocol's plan ({extra} extra, "
                f"{lacking} missing)"
            )
        if membership.get("generators", plan.windows[step]) != plan.windows[step]:
            problems.append(f"window {step}: trained on other generators than the plan's")
    result.add(
        "training membership",
        problems,
        f"every window trained on exactly the protocol's rows ({plan.n_windows} windows)",
    )


def _check_evaluation_set(
    result, root: Path, images, plan, why_no_plan: str, stage: str = "validate"
) -> None:
    if not images:
        result.add("evaluation set", ["no predictions to check"], "")
        return
    problems = []
    expected_ids = None if plan is None else np.sort(np.asarray(plan.evaluation(stage).ids))
    for step, predictions in sorted(images.items()):
        ids = np.asarray(predictions.fused_identifiers)
        generator_ids = np.asarray(predictions.fused_generator_ids)
        pairing = np.asarray(predictions.pairing)
        if len(np.unique(ids)) != len(ids):
            problems.append(f"window {step}: some images scored twice")
        if expected_ids is not None:
            if not np.array_equal(np.sort(ids), expected_ids):
                lacking = len(np.setdiff1d(expected_ids, ids))
                extra = len(np.setdiff1d(ids, expected_ids))
                problems.append(
                    f"window {step}: {lacking} evaluation image(s) missing, {extra} extra"
                )
            elif not np.array_equal(pairing, plan.evaluation(stage).pairing_of(ids)):
                problems.append(f"window {step}: reals are not paired as the protocol pairs them")
        fake_counts = np.bincount(generator_ids[generator_ids != 0], minlength=1)
        paired = pairing[(generator_ids == 0) & (pairing >= 0)]
        real_counts = np.bincount(paired, minlength=len(fake_counts))
        if len(real_counts) != len(fake_counts) or not np.array_equal(real_counts, fake_counts):
            problems.append(f"window {step}: not every fake has a paired real")
        membership_path = root / f"window_{step}" / MEMBERSHIP
        if membership_path.is_file():
            claimed = sorted(_read_json(membership_path).get("eval_ids", []))
            if claimed and claimed != sorted(ids.tolist()):
                problems.append(f"window {step}: scored other images than its membership.json")
    detail = "every window scored the whole evaluation set, every fake with its paired real"
    if plan is None:
        detail += f" (not compared with the protocol's evaluation set: {why_no_plan})"
    result.add("evaluation set", problems, detail)


def _check_degradations(result, config: dict[str, Any] | None, images) -> None:
    if config is None:
        result.skip("degradations", "no config.yaml in the bundle: settings unknown")
        return
    data = config.get("data") or {}
    problems = []
    if not data.get("degradations", True):
        problems.append(
            "data.degradations is off: the mandatory evaluation degradations were not applied"
        )
    qualities = data.get("eval_jpeg_quality", OFFICIAL_JPEG_QUALITIES)
    if list(qualities) != OFFICIAL_JPEG_QUALITIES or data.get("eval_jpeg_quality_range"):
        problems.append("the evaluation JPEG qualities are not the official ones")
    seed = data.get("augmentation_seed", BENCHMARK_DEGRADATION_SEED)
    if seed != BENCHMARK_DEGRADATION_SEED:
        problems.append(
            f"degradations seeded with {seed}, not the protocol's {BENCHMARK_DEGRADATION_SEED}"
        )
    recorded = 0
    if not problems:
        from aigenbench.data.pipelines import EvalPipeline

        pipeline = EvalPipeline(seed=seed)
        for step, predictions in sorted(images.items()):
            codes = predictions.degradations
            if codes is None:
                continue
            recorded += 1
            expected = pipeline.degradation_codes(np.asarray(predictions.fused_identifiers))
            if expected is not None and not np.array_equal(np.asarray(codes), expected):
                problems.append(f"window {step}: the recorded degradations are not the protocol's")
    detail = "on, official JPEG qualities and seed"
    detail += (
        f"; per-image records of {recorded} window(s) match (seed, image ID)"
        if recorded
        else "; the predictions record no per-image degradations"
    )
    result.add("degradations", problems, detail)
