"""A checkable submission: ``bundle`` packs a run into one zip, ``verify`` re-checks it.

A bundle holds what is needed to recompute and audit every number: each window's
predictions file and ``membership.json``, the resolved ``config.yaml``, ``summary.json`` and
the window ``metrics.json`` files when present, ``environment.json`` (Python, platform,
package versions), with ``--weights`` each window's final weights (``window_<k>/weights.json``
and the shared ``weights.safetensors``, see :mod:`aigenbench.evaluation.rescore`), and
``manifest.json``, written last: the SHA-256 of every other file, the files of each window
(``windows``) and the metrics computed at bundling time.

``verify`` opens the zip as untrusted input (:mod:`aigenbench.evaluation.bundle_archive`) and
runs these checks, each passed, failed or not run with the reason:

- **hashes**: every file listed in the manifest is there, unchanged, and no other file is;
- **numbers**: every metric recomputed from the predictions equals the manifest's (1e-9),
  and the headline of ``summary.json`` (when bundled) equals the recomputed one;
- **predictions files**: every key a metric reads has its shape and dtype, and the per-image
  ``fused_*`` keys are the fusion of the per-crop ``crop_*`` keys (one generator per image,
  labels = generator != 0), so no key can say something the others do not;
- **windows**: a predictions file for every window 0..K-1, all with one timeline; each window's
  files are the ones the manifest lists for that window and its ``membership.json`` names that
  window; no two windows hold the same scores or (``--weights``) the same weights (a copy);
- **dataset rows** (needs the dataset): the windows and generator names are the protocol's
  for the dataset, and every evaluation row's image ID, label, generator (crop and fused keys)
  and paired real are the dataset's and the plan's, not the file's word;
- **training membership** (needs the dataset): each window's training IDs and generators equal
  the protocol's plan, rebuilt with :func:`aigenbench.protocol.make_plan` from the dataset's
  generator columns and the run's protocol settings;
- **evaluation set**: every window scored each image once, as many paired reals as fakes per
  generator, the images its ``membership.json`` lists;
- **degradations**: the mandatory evaluation degradations were on, with the official JPEG
  qualities and seed; when the predictions record each image's degradations (key
  ``degradations``), the codes are the ones (seed, image ID) gives;
- **rescore** (``rescore=N``): N evaluation images per window, drawn by verify's seed, scored
  again from the bundled weights through the evaluation pipeline; their scores equal the
  submitted ones within the tolerance of the run's precision.

The verdict (:attr:`Verification.verdict`) is ``verified`` when every check ran and passed,
``failed`` when one failed, and ``incomplete`` when none failed but one could not run (no
dataset, no config.yaml, no weights to rescore from): a bundle is never called verified on
checks that did not run.
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
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aigenbench import __version__
from aigenbench.errors import DataError
from aigenbench.evaluation.bundle_archive import (
    ArchiveLimits,
    extract,
    read_json,
    read_yaml_mapping,
    section,
)
from aigenbench.evaluation.experiment import (
    METRICS_FILE,
    SUMMARY_FILE,
    SUMMARY_KEY,
    discover_predictions,
    evaluate_experiment,
    headline,
)
from aigenbench.evaluation.predictions import Predictions, load_predictions
from aigenbench.files import write_bytes_atomic
from aigenbench.scoring import fuse_mean, image_runs
from aigenbench.suggest import did_you_mean

if TYPE_CHECKING:
    from aigenbench.protocol import BenchmarkPlan
    from aigenbench.protocol.selection import Stage

MANIFEST = "manifest.json"
ENVIRONMENT = "environment.json"
CONFIG = "config.yaml"
MEMBERSHIP = "membership.json"
FORMAT = "aigenbench-bundle/1"
PACKAGES = ("numpy", "scikit-learn", "scipy", "torch", "lightning", "timm", "open_clip_torch")
OFFICIAL_JPEG_QUALITIES = [50, 101]
BENCHMARK_DEGRADATION_SEED = 4321
TOLERANCE = 1e-9
FUSION_TOLERANCE = 1e-6
"""``fused_scores`` against the mean of the crop scores: both float32, the mean summed in
another order by another writer differs by a few float32 ulps of a probability (< 1e-6)."""

VERIFIED, FAILED, INCOMPLETE = "verified", "failed", "incomplete"
EXIT_CODES = {VERIFIED: 0, FAILED: 1, INCOMPLETE: 3}
"""verify's exit status per verdict; 2 is every command's "cannot do it" (a bundle that cannot
be read, a bad argument)."""


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
    weights: bool = False


def write_bundle(
    run_dir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    stage: str = "validate",
    weights: bool = False,
) -> Bundle:
    """Pack ``run_dir`` into the zip ``output`` (see the module docstring); ``weights`` adds
    every window's final weights (``checkpoints/final.ckpt``) for ``verify --rescore``."""
    run_dir = Path(run_dir)
    predictions = discover_predictions(run_dir, stage)
    evaluation = evaluate_experiment(run_dir, stage)
    members: dict[str, Path] = {}
    windows: dict[str, dict[str, Any]] = {}
    for step, path in predictions.items():
        entry: dict[str, Any] = {"window": step, "predictions": f"window_{step}/{path.name}"}
        members[entry["predictions"]] = path
        for name in (MEMBERSHIP, METRICS_FILE):
            extra = path.parent / name
            if extra.is_file():
                members[f"window_{step}/{name}"] = extra
        if (path.parent / MEMBERSHIP).is_file():
            entry["membership"] = f"window_{step}/{MEMBERSHIP}"
        windows[str(step)] = entry
    for name in (CONFIG, SUMMARY_FILE):
        if (run_dir / name).is_file():
            members[name] = run_dir / name
    generated: dict[str, bytes] = {ENVIRONMENT: json.dumps(environment(), indent=2).encode()}
    if weights:
        from aigenbench.evaluation.rescore import pack_weights

        generated.update(pack_weights({step: p.parent for step, p in predictions.items()}))
        for step in predictions:
            windows[str(step)]["weights"] = f"window_{step}/weights.json"
    manifest = {
        "format": FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "run": run_dir.resolve().name,
        "stage": stage,
        "predictions": {str(step): f"window_{step}/{p.name}" for step, p in predictions.items()},
        "windows": windows,
        "sha256": {
            **{name: _sha256(path) for name, path in members.items()},
            **{name: hashlib.sha256(data).hexdigest() for name, data in generated.items()},
        },
        "metrics": _numbers(evaluation.to_json()),
    }
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        temporary = Path(scratch) / "bundle.zip"
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, path in members.items():
                archive.write(path, name)
            for name, data in generated.items():
                archive.writestr(name, data)
            archive.writestr(MANIFEST, json.dumps(manifest, indent=2, allow_nan=False))
        write_bytes_atomic(output, temporary.read_bytes())
    return Bundle(output, sorted([*members, *generated, MANIFEST]), len(predictions), weights)


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
    """``pass``, ``fail`` or ``skip`` (could not run)."""
    detail: str


@dataclass
class Verification:
    bundle: Path
    checks: list[Check] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """``verified`` (every check ran and passed), ``failed`` or ``incomplete``."""
        if any(check.status == "fail" for check in self.checks):
            return FAILED
        if any(check.status == "skip" for check in self.checks):
            return INCOMPLETE
        return VERIFIED

    @property
    def ok(self) -> bool:
        return self.verdict == VERIFIED

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def not_run(self) -> list[str]:
        return [check.name for check in self.checks if check.status == "skip"]

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
            "verdict": self.verdict,
            "ok": self.ok,
            "not_run": self.not_run,
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


@dataclass
class _Opened:
    """What verify read from the extracted bundle."""

    root: Path
    manifest: dict[str, Any]
    stage: Stage
    config: dict[str, Any] | None
    predictions: dict[int, Predictions] = field(default_factory=dict)
    files: dict[int, Path] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)
    """Windows whose predictions file the reader refused, with its message (naming the member)."""


def verify_bundle(
    bundle: str | os.PathLike[str],
    dataset: str | os.PathLike[str] | None = None,
    *,
    rescore: int = 0,
    seed: int | None = None,
    limits: ArchiveLimits | None = None,
) -> Verification:
    """Every check of the module docstring; ``dataset`` overrides the config's ``data.source``;
    ``rescore`` images per window are scored again from the bundled weights (drawn with
    ``seed``; None: a fresh seed, shown in the check's detail so the draw can be repeated)."""
    bundle = Path(bundle)
    if not bundle.is_file():
        raise DataError(f"bundle {bundle} does not exist; make one with `aigenbench bundle RUN`")
    result = Verification(bundle)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        extract(bundle, root, limits)
        if not (root / MANIFEST).is_file():
            raise DataError(f"{bundle} has no {MANIFEST}: it was not made by `aigenbench bundle`")
        opened = _open(root)
        _check_hashes(result, opened)
        _check_numbers(result, opened)
        _check_predictions_files(result, opened)
        _check_windows(result, opened)
        plan, why_no_plan, source = _plan(opened.config, dataset)
        _check_dataset_rows(result, opened, plan, why_no_plan)
        _check_membership(result, opened, plan, why_no_plan)
        _check_evaluation_set(result, opened)
        _check_degradations(result, opened)
        if rescore:
            from aigenbench.evaluation.rescore import check_rescore

            check_rescore(result, opened, plan, source, why_no_plan, rescore, seed)
    return result


def _open(root: Path) -> _Opened:
    manifest = read_json(root, MANIFEST)
    for key, kind in (("sha256", dict), ("windows", dict), ("predictions", dict)):
        if key in manifest and not isinstance(manifest[key], kind):
            raise DataError(f"{MANIFEST} in the bundle: '{key}' is not a JSON object")
    stage = manifest.get("stage", "validate")
    if stage not in ("validate", "test"):
        raise DataError(f"{MANIFEST} in the bundle: stage {stage!r} is neither validate nor test")
    config = read_yaml_mapping(root, CONFIG) if (root / CONFIG).is_file() else None
    opened = _Opened(root, manifest, stage, config)
    try:
        opened.files = discover_predictions(root, stage)
    except DataError:
        return opened  # the windows check says there are none
    for step, path in opened.files.items():
        try:
            opened.predictions[step] = _load(root, path)
        except DataError as error:  # a failed check, and the other windows are still checked
            opened.refused[step] = str(error)
    return opened


def _member(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _load(root: Path, path: Path) -> Predictions:
    """A bundled predictions file; its errors name the member, not the scratch folder."""
    try:
        return load_predictions(path)
    except DataError as error:
        message = str(error).replace(str(path), _member(root, path))
        raise DataError(f"in the bundle: {message}") from None


def _check_hashes(result: Verification, opened: _Opened) -> None:
    root, problems = opened.root, []
    listed = opened.manifest.get("sha256", {})
    for name, digest in listed.items():
        path = root / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif _sha256(path) != digest:
            problems.append(f"{name} was changed after bundling")
    extra = sorted(
        _member(root, p)
        for p in root.rglob("*")
        if p.is_file() and _member(root, p) not in listed and p.name != MANIFEST
    )
    problems += [f"{name} is not in the manifest" for name in extra]
    result.add("hashes", problems, f"{len(listed)} files match their SHA-256")


def _check_numbers(result: Verification, opened: _Opened) -> None:
    try:
        evaluation = evaluate_experiment(opened.root, opened.stage)
    except Exception as error:  # a broken file: the check fails, the others still run
        result.add("numbers", [f"cannot recompute: {error}"], "")
        return
    recomputed = _numbers(json.loads(json.dumps(evaluation.to_json(), allow_nan=False)))
    problems = _differences(opened.manifest.get("metrics"), recomputed)
    if (opened.root / SUMMARY_FILE).is_file():
        summary = read_json(opened.root, SUMMARY_FILE).get(SUMMARY_KEY, {})
        claimed = summary.get("headline") if isinstance(summary, dict) else None
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


def _raw_arrays(path: Path) -> dict[str, np.ndarray]:
    """The plain arrays of a predictions file as stored (``windows_timeline`` may be an object
    array, which is never unpickled: it is left out here)."""
    arrays = {}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            try:
                arrays[key] = data[key]
            except ValueError:
                continue
    return arrays


def _file_problems(arrays: dict[str, np.ndarray]) -> list[str]:
    """Shapes, dtypes and the agreement of the per-image keys with the per-crop keys."""
    problems: list[str] = []
    ids = arrays["crop_identifiers"]
    generators = arrays["crop_generator_ids"]
    for key in ("crop_identifiers", "crop_generator_ids", "pairing"):
        if arrays[key].ndim != 1 or not np.issubdtype(arrays[key].dtype, np.integer):
            problems.append(f"{key} is {arrays[key].dtype} {arrays[key].shape}, not 1-D integers")
    if problems:
        return problems
    n = len(ids)
    scores = arrays.get("crop_scores")
    if scores is not None:
        if not np.issubdtype(scores.dtype, np.floating):
            problems.append(f"crop_scores are {scores.dtype}, not floating-point probabilities")
        if scores.shape not in ((n,), (n, 1)):
            problems.append(
                f"crop_scores has shape {scores.shape}; a fake probability per crop is ({n},)"
            )
    multiclass = arrays.get("crop_multiclass_predictions")
    if multiclass is not None and (multiclass.ndim != 2 or len(multiclass) != n):
        problems.append(f"crop_multiclass_predictions has shape {multiclass.shape}, not ({n}, C)")
    labels = arrays.get("crop_labels")
    if labels is not None and (
        labels.shape != (n,) or not np.array_equal(labels, (generators != 0).astype(labels.dtype))
    ):
        problems.append("crop_labels are not (crop_generator_ids != 0)")
    starts, counts = image_runs(ids)
    per_image = generators[starts]
    if not np.array_equal(np.repeat(per_image, counts), generators):
        problems.append("the crops of one image have different generator ids")
    expected = {
        "fused_identifiers": ids[starts],
        "identifier": ids[starts],
        "fused_generator_ids": per_image,
        "fused_labels": (per_image != 0),
    }
    for key, value in expected.items():
        if key in arrays and (
            arrays[key].shape != value.shape
            or not np.array_equal(arrays[key].astype(np.int64), value.astype(np.int64))
        ):
            problems.append(f"{key} is not the per-image value of the crop keys")
    if scores is not None and "fused_scores" in arrays and not problems:
        fused = fuse_mean(scores.reshape(n).astype(np.float64), starts, counts)
        claimed = arrays["fused_scores"]
        if claimed.shape != fused.shape or not np.allclose(
            claimed.astype(np.float64), fused, rtol=0, atol=FUSION_TOLERANCE
        ):
            problems.append("fused_scores are not the mean of each image's crop_scores")
    valid = arrays.get("fused_valid")
    if valid is not None and (valid.shape != (len(starts),) or valid.dtype != np.bool_):
        problems.append(f"fused_valid is {valid.dtype} {valid.shape}, not one boolean per image")
    return problems


def _check_predictions_files(result: Verification, opened: _Opened) -> None:
    problems = []
    for step, path in sorted(opened.files.items()):
        if step in opened.refused:
            problems.append(f"window {step}: {opened.refused[step]}")
            continue
        problems += [f"window {step}: {p}" for p in _file_problems(_raw_arrays(path))]
    result.add(
        "predictions files",
        problems,
        "every key a metric reads has its shape and dtype; the per-image keys are the fusion of "
        "the per-crop keys",
    )


def _check_windows(result: Verification, opened: _Opened) -> None:
    loaded = opened.predictions
    if not loaded:
        which = "readable " if opened.refused else ""
        result.add("windows", [f"no {which}predictions files for stage {opened.stage!r}"], "")
        return
    problems = []
    if len({json.dumps(p.windows_timeline) for p in loaded.values()}) > 1:
        problems.append("the predictions files disagree on the windows")
    n_windows = len(loaded[min(loaded)].windows_timeline)
    missing = sorted(set(range(n_windows)) - set(loaded) - set(opened.refused))
    if missing:
        problems.append(f"no predictions for window(s) {missing} of 0..{n_windows - 1}")
    if opened.refused:
        problems.append(f"unreadable predictions for window(s) {sorted(opened.refused)}")
    listed = opened.manifest.get("windows")
    for step, path in sorted(opened.files.items()):
        entry = listed.get(str(step)) if isinstance(listed, dict) else None
        if listed is not None and (
            not isinstance(entry, dict)
            or entry.get("window") != step
            or entry.get("predictions") != _member(opened.root, path)
        ):
            problems.append(
                f"window {step}: its predictions are not the manifest's for window {step}"
            )
        membership = opened.root / f"window_{step}" / MEMBERSHIP
        if membership.is_file():
            named = read_json(opened.root, f"window_{step}/{MEMBERSHIP}").get("window")
            if named != step:
                problems.append(f"window {step}: its {MEMBERSHIP} is window {named}'s")
    seen: dict[bytes, int] = {}
    for step, predictions in sorted(loaded.items()):
        digest = hashlib.sha256(np.ascontiguousarray(predictions.crop_scores).tobytes()).digest()
        if digest in seen:
            problems.append(
                f"windows {seen[digest]} and {step} hold the same scores: one window's "
                "predictions were copied into the other"
            )
        seen.setdefault(digest, step)
    problems += _copied_weights(opened)
    result.add("windows", problems, f"{n_windows} windows, each with its own predictions")


def _copied_weights(opened: _Opened) -> list[str]:
    """Two windows with every weight equal (``bundle --weights``): one window's detector was
    copied into the other (a frozen backbone shares tensors; its head still trains)."""
    owners: dict[str, int] = {}
    problems = []
    for step in sorted(opened.predictions):
        member = f"window_{step}/weights.json"
        if not (opened.root / member).is_file():
            continue
        tensors = read_json(opened.root, member).get("tensors")
        if not isinstance(tensors, dict):
            raise DataError(f"{member} in the bundle: 'tensors' is not a JSON object")
        key = json.dumps(tensors, sort_keys=True)
        if key in owners:
            problems.append(
                f"windows {owners[key]} and {step} have the same weights: one window's detector "
                "was copied into the other"
            )
        owners.setdefault(key, step)
    return problems


def _config_error(message: str) -> DataError:
    return DataError(f"{CONFIG} in the bundle: {message}")


def protocol_config(config: dict[str, Any] | None) -> Any:
    """The run's ``ProtocolConfig`` from the bundled config (unknown keys named)."""
    from aigenbench.protocol import ProtocolConfig

    values = section(config or {}, "protocol", CONFIG)
    known = [f.name for f in fields(ProtocolConfig)]
    for key in values:
        if key not in known:
            raise _config_error(
                f"unknown key {key!r} under protocol:.{did_you_mean(key, known)} Known: "
                f"{', '.join(known)}"
            )
    return ProtocolConfig(**values)


def _plan(
    config: dict[str, Any] | None, dataset: str | os.PathLike[str] | None
) -> tuple[BenchmarkPlan | None, str, Any]:
    """The protocol's plan for the run's dataset and the opened source, or (None, why not,
    None)."""
    protocol = protocol_config(config)
    data = section(config or {}, "data", CONFIG)
    source = dataset if dataset is not None else data.get("source")
    if not source:
        return None, "no dataset: pass --dataset PATH (the config names none)", None
    if not isinstance(source, str | os.PathLike):
        raise _config_error(f"data.source is {source!r}, not a path")
    if not Path(source).exists():
        return None, f"dataset {source} not found here: pass --dataset PATH", None
    from aigenbench.data.sources import open_source
    from aigenbench.protocol import Timeline, load_timeline, make_plan

    if protocol.timeline and not Path(protocol.timeline).is_file():  # not /dev/zero either
        why = f"the config's protocol.timeline {protocol.timeline} is not a file here"
        return None, why, None
    opened = open_source(source, data.get("source_kind", "auto") if dataset is None else "auto")
    if protocol.timeline:
        timeline = load_timeline(protocol.timeline)
    else:
        timeline = opened.timeline if opened.timeline is not None else Timeline.builtin()
    plan = make_plan(
        opened.generators("train"), opened.generators("validation"), protocol, timeline
    )
    return plan, "", opened


def _check_dataset_rows(
    result: Verification, opened: _Opened, plan: BenchmarkPlan | None, why_no_plan: str
) -> None:
    name = "dataset rows"
    if plan is None:
        result.skip(name, f"could not run: {why_no_plan}")
        return
    if not opened.predictions:
        result.add(name, ["no predictions to check"], "")
        return
    evaluation = plan.evaluation(opened.stage)
    expected_ids = np.asarray(evaluation.ids, dtype=np.int64)
    truth = dict(
        zip(
            expected_ids.tolist(),
            (plan.generator_names.index(g) for g in evaluation.generators),
            strict=True,
        )
    )
    problems = []
    for step, predictions in sorted(opened.predictions.items()):
        if predictions.windows_timeline != plan.windows:
            problems.append(f"window {step}: the windows are not the protocol's for this dataset")
        if predictions.generator_names != plan.generator_names:
            problems.append(
                f"window {step}: generator_id_to_name is not the dataset's generator names"
            )
            continue
        ids = np.asarray(predictions.fused_identifiers, dtype=np.int64)
        if not np.array_equal(np.sort(ids), np.sort(expected_ids)):
            lacking = len(np.setdiff1d(expected_ids, ids))
            extra = len(np.setdiff1d(ids, expected_ids))
            problems.append(f"window {step}: {lacking} evaluation image(s) missing, {extra} extra")
            continue
        crop_ids = np.asarray(predictions.crop_identifiers, dtype=np.int64)
        crop_truth = np.fromiter(
            (truth.get(i, -1) for i in crop_ids.tolist()), np.int64, len(crop_ids)
        )
        wrong = int(np.count_nonzero(np.asarray(predictions.crop_generator_ids) != crop_truth))
        wrong_labels = int(
            np.count_nonzero(np.asarray(predictions.crop_labels) != (crop_truth != 0))
        )
        image_truth = np.fromiter((truth[i] for i in ids.tolist()), np.int64, len(ids))
        wrong_fused = int(
            np.count_nonzero(np.asarray(predictions.fused_generator_ids) != image_truth)
        )
        if wrong or wrong_labels or wrong_fused:
            problems.append(
                f"window {step}: the generator or label of {max(wrong, wrong_labels, wrong_fused)} "
                "row(s) is not the dataset's"
            )
        if not np.array_equal(np.asarray(predictions.pairing), evaluation.pairing_of(ids.tolist())):
            problems.append(f"window {step}: reals are not paired as the protocol pairs them")
    result.add(
        name,
        problems,
        f"the protocol's windows; every evaluation row's image, label, generator and paired real "
        f"are the dataset's ({len(expected_ids)} images)",
    )


def _check_membership(
    result: Verification, opened: _Opened, plan: BenchmarkPlan | None, why_no_plan: str
) -> None:
    name = "training membership"
    if plan is None:
        result.skip(name, f"could not run: {why_no_plan}")
        return
    problems = []
    for step in range(plan.n_windows):
        member = f"window_{step}/{MEMBERSHIP}"
        if not (opened.root / member).is_file():
            problems.append(f"window {step}: no {MEMBERSHIP}")
            continue
        membership = read_json(opened.root, member)
        expected = plan.training_ids(step)
        found = membership.get("train_ids")
        if not isinstance(found, list) or not all(isinstance(i, int) for i in found):
            raise DataError(f"{member} in the bundle: train_ids is not a list of row IDs")
        replayed = membership.get("replayed_ids", [])
        if not isinstance(replayed, list) or not all(isinstance(i, int) for i in replayed):
            raise DataError(f"{member} in the bundle: replayed_ids is not a list of row IDs")
        earlier = {i for k in range(step) for i in plan.training_ids(k)}
        if not set(replayed) <= earlier:
            problems.append(
                f"window {step}: {len(set(replayed) - earlier)} replayed row(s) are not "
                "training rows of an earlier window"
            )
        own = sorted(set(found) - set(replayed))
        if own != sorted(expected):
            extra = len(set(own) - set(expected))
            lacking = len(set(expected) - set(own))
            problems.append(
                f"window {step}: training IDs differ from the protocol's plan ({extra} extra, "
                f"{lacking} missing)"
            )
        if membership.get("generators") != plan.windows[step]:
            problems.append(f"window {step}: trained on other generators than the plan's")
    result.add(
        name,
        problems,
        f"every window trained on exactly the protocol's rows ({plan.n_windows} windows)",
    )


def _check_evaluation_set(result: Verification, opened: _Opened) -> None:
    if not opened.predictions:
        result.add("evaluation set", ["no predictions to check"], "")
        return
    problems = []
    for step, predictions in sorted(opened.predictions.items()):
        ids = np.asarray(predictions.fused_identifiers)
        generator_ids = np.asarray(predictions.fused_generator_ids)
        pairing = np.asarray(predictions.pairing)
        if len(np.unique(ids)) != len(ids):
            problems.append(f"window {step}: some images scored twice")
        fake_counts = np.bincount(generator_ids[generator_ids != 0], minlength=1)
        paired = pairing[(generator_ids == 0) & (pairing >= 0)]
        real_counts = np.bincount(paired, minlength=len(fake_counts))
        if len(real_counts) != len(fake_counts) or not np.array_equal(real_counts, fake_counts):
            problems.append(f"window {step}: not every fake has a paired real")
        member = f"window_{step}/{MEMBERSHIP}"
        if (opened.root / member).is_file():
            claimed = read_json(opened.root, member).get("eval_ids", [])
            if not isinstance(claimed, list):
                raise DataError(f"{member} in the bundle: eval_ids is not a list of row IDs")
            if claimed and sorted(claimed) != sorted(ids.tolist()):
                problems.append(f"window {step}: scored other images than its membership.json")
    result.add(
        "evaluation set",
        problems,
        "every window scored each image once, every fake with its paired real",
    )


def _check_degradations(result: Verification, opened: _Opened) -> None:
    if opened.config is None:
        result.skip("degradations", "could not run: no config.yaml in the bundle")
        return
    data = section(opened.config, "data", CONFIG)
    problems = []
    if not data.get("degradations", True):
        problems.append(
            "data.degradations is off: the mandatory evaluation degradations were not applied"
        )
    qualities = data.get("eval_jpeg_quality", OFFICIAL_JPEG_QUALITIES)
    if (
        not isinstance(qualities, list)
        or qualities != OFFICIAL_JPEG_QUALITIES
        or data.get("eval_jpeg_quality_range")
    ):
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
        for step, predictions in sorted(opened.predictions.items()):
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
