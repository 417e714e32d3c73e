"""``aigenbench bundle`` / ``verify``: a protocol-following run verifies; a missing window, a
wrong training membership, degradations off, a changed file or a changed number do not."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from aigenbench.data.pipelines import EvalPipeline
from aigenbench.data.sources import open_source
from aigenbench.data.synth import SynthConfig, build_synthetic
from aigenbench.evaluation.predictions import build_predictions, save_predictions
from aigenbench.protocol import make_plan

TINY = SynthConfig(seed=3, size=32, per_generator=6, validation_per_generator=5, generators=8)
"""8 generators: 2 windows of 4; 48 + 48 training rows, 40 + 40 validation rows."""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle-data") / "synth"
    build_synthetic(out, TINY)
    return out


def write_run(run_dir: Path, dataset: Path, degradations: bool = True) -> None:
    """An experiment as the runner lays it out, scored by a made-up detector."""
    source = open_source(dataset)
    plan = make_plan(
        source.generators("train"), source.generators("validation"), None, source.timeline
    )
    evaluation = plan.evaluation("validate")
    ids = np.asarray(evaluation.ids)
    generator_ids = np.array([plan.generator_names.index(g) for g in evaluation.generators])
    codes = EvalPipeline().degradation_codes(ids) if degradations else None
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(
        f"data:\n  source: {dataset}\n  degradations: {str(degradations).lower()}\n"
        "protocol:\n  benchmark_type: cumulative\n  generators_per_window: 4\n"
        "experiment:\n  seed: 1\n"
    )
    rng = np.random.default_rng(0)
    for window in range(plan.n_windows):
        scores = np.where(generator_ids != 0, rng.beta(4, 2, len(ids)), rng.beta(2, 4, len(ids)))
        predictions = build_predictions(
            scores.astype(np.float32),
            (generator_ids != 0).astype(np.int64),
            generator_ids,
            ids,
            generator_names=plan.generator_names,
            windows=plan.windows,
            pairing=evaluation.pairing,
            image_degradations=(lambda _: codes) if codes is not None else None,
        )
        window_dir = run_dir / f"window_{window}"
        save_predictions(window_dir / "predictions_validate.npz", predictions)
        membership = {
            "window": window,
            "generators": plan.windows[window],
            "train_ids": plan.training_ids(window),
            "eval_ids": [int(i) for i in ids],
            "pairing": {str(k): v for k, v in evaluation.pairing.items()},
        }
        (window_dir / "membership.json").write_text(json.dumps(membership))


def _checks(run_cli, bundle: Path, *extra) -> dict[str, dict]:
    result = run_cli("verify", bundle, "--json", *extra)
    data = json.loads(result.out)
    assert result.exit_code == {"verified": 0, "failed": 1, "incomplete": 3}[data["verdict"]]
    assert data["ok"] == (data["verdict"] == "verified")
    return {check["name"]: check for check in data["checks"]}


def test_a_protocol_run_verifies(run_cli, dataset, tmp_path):
    run = tmp_path / "runs" / "good"
    write_run(run, dataset)
    made = run_cli("bundle", run, "-o", tmp_path / "good.zip")
    assert made.exit_code == 0, made.err
    with zipfile.ZipFile(tmp_path / "good.zip") as archive:
        names = set(archive.namelist())
    assert {"manifest.json", "environment.json", "config.yaml", "window_1/membership.json",
            "window_0/predictions_validate.npz"} <= names  # fmt: skip
    checks = _checks(run_cli, tmp_path / "good.zip")
    assert {name: c["status"] for name, c in checks.items()} == {
        "hashes": "pass",
        "numbers": "pass",
        "predictions files": "pass",
        "windows": "pass",
        "dataset rows": "pass",
        "training membership": "pass",
        "evaluation set": "pass",
        "degradations": "pass",
    }
    assert "match (seed, image ID)" in checks["degradations"]["detail"]
    table = run_cli("verify", tmp_path / "good.zip")
    assert table.exit_code == 0 and "verified" in table.out


def test_without_the_dataset_the_plan_checks_are_skipped_and_say_why(run_cli, dataset, tmp_path):
    copy = tmp_path / "moved"
    shutil.copytree(dataset, copy)
    run = tmp_path / "run"
    write_run(run, copy)
    assert run_cli("bundle", run, "-o", tmp_path / "b.zip").exit_code == 0
    shutil.rmtree(copy)
    checks = _checks(run_cli, tmp_path / "b.zip")
    assert checks["training membership"]["status"] == "skip"
    assert "--dataset" in checks["training membership"]["detail"]
    assert checks["dataset rows"]["status"] == "skip"
    checks = _checks(run_cli, tmp_path / "b.zip", "--dataset", dataset)
    assert checks["training membership"]["status"] == "pass"
    assert checks["dataset rows"]["status"] == "pass"


def test_a_missing_window_fails(run_cli, dataset, tmp_path):
    run = tmp_path / "run"
    write_run(run, dataset)
    shutil.rmtree(run / "window_1")
    assert run_cli("bundle", run, "-o", tmp_path / "b.zip").exit_code == 0
    checks = _checks(run_cli, tmp_path / "b.zip")
    assert checks["windows"]["status"] == "fail"
    assert "no predictions for window(s) [1]" in checks["windows"]["detail"]
    assert checks["training membership"]["status"] == "fail"


def test_a_wrong_training_membership_fails(run_cli, dataset, tmp_path):
    run = tmp_path / "run"
    write_run(run, dataset)
    path = run / "window_1" / "membership.json"
    membership = json.loads(path.read_text())
    membership["train_ids"] = [*membership["train_ids"][:-1], 10_000]  # one row swapped
    path.write_text(json.dumps(membership))
    assert run_cli("bundle", run, "-o", tmp_path / "b.zip").exit_code == 0
    checks = _checks(run_cli, tmp_path / "b.zip")
    assert checks["training membership"]["status"] == "fail"
    assert "window 1: training IDs differ" in checks["training membership"]["detail"]
    assert "1 extra, 1 missing" in checks["training membership"]["detail"]
    assert checks["numbers"]["status"] == "pass"


def test_degradations_off_fails(run_cli, dataset, tmp_path):
    run = tmp_path / "run"
    write_run(run, dataset, degradations=False)
    assert run_cli("bundle", run, "-o", tmp_path / "b.zip").exit_code == 0
    checks = _checks(run_cli, tmp_path / "b.zip")
    assert checks["degradations"]["status"] == "fail"
    assert "data.degradations is off" in checks["degradations"]["detail"]


def test_wrong_recorded_degradations_fail(run_cli, dataset, tmp_path):
    run = tmp_path / "run"
    write_run(run, dataset)
    path = run / "window_0" / "predictions_validate.npz"
    with np.load(path) as data:
        arrays = dict(data)
    arrays["degradations"] = np.zeros_like(arrays["degradations"])
    np.savez(path, **arrays)
    assert run_cli("bundle", run, "-o", tmp_path / "b.zip").exit_code == 0
    checks = _checks(run_cli, tmp_path / "b.zip")
    assert checks["degradations"]["status"] == "fail"
    assert "window 0: the recorded degradations" in checks["degradations"]["detail"]


def _rewrite(bundle: Path, name: str, change) -> None:
    with zipfile.ZipFile(bundle) as archive:
        contents = {n: archive.read(n) for n in archive.namelist()}
    contents[name] = change(contents[name])
    with zipfile.ZipFile(bundle, "w") as archive:
        for n, data in contents.items():
            archive.writestr(n, data)


def test_a_changed_file_or_number_fails(run_cli, dataset, tmp_path):
    run = tmp_path / "run"
    write_run(run, dataset)
    assert run_cli("bundle", run, "-o", tmp_path / "b.zip").exit_code == 0
    shutil.copy(tmp_path / "b.zip", tmp_path / "c.zip")
    _rewrite(tmp_path / "b.zip", "config.yaml", lambda data: data + b"# edited\n")
    assert _checks(run_cli, tmp_path / "b.zip")["hashes"]["status"] == "fail"

    def inflate(data: bytes) -> bytes:
        manifest = json.loads(data)
        manifest["metrics"]["average"]["next"]["auroc"] += 0.01
        return json.dumps(manifest).encode()

    _rewrite(tmp_path / "c.zip", "manifest.json", inflate)
    checks = _checks(run_cli, tmp_path / "c.zip")
    assert checks["numbers"]["status"] == "fail"
    assert "average.next.auroc" in checks["numbers"]["detail"]


def test_user_errors_exit_2(run_cli, tmp_path):
    assert run_cli("verify", tmp_path / "none.zip").exit_code == 2
    (tmp_path / "bad.zip").write_text("not a zip")
    result = run_cli("verify", tmp_path / "bad.zip")
    assert result.exit_code == 2 and "not a zip" in result.err
