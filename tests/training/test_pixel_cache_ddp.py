"""The pixel cache under DDP (two CPU processes, gloo, the console command as a user runs it):
rank 0 alone decodes and writes the stores while the other rank waits and then only reads them;
predictions equal those of the same DDP run without the cache, bit for bit (the same processes
see the same tensors in the same order, so there is no tolerance); a store filled by a
one-process run is reused by a two-process run; a run killed or stopped during the fill resumes
without decoding anything twice.

Every process of a run records what it does through ``pixel_cache_hooks`` (imported with
``--experiment.imports``, as a user's module)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.training.conftest import assert_same_predictions, fit_args, write_config

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[2]
HOOKS = ("--experiment.imports", '["tests.training.pixel_cache_hooks"]')
BATCH = ("--data.train_batch_size", "8")
TWO = ("--trainer.devices", "2", "--trainer.strategy", "ddp", *BATCH)
FIXED = ("--data.stochastic_augmentation", "false")  # training samples cacheable too
# Training draws random numbers (stochastic depth): a fill that moved torch's generator would
# change every later draw, so the predictions would differ.
DRAWS = ("--model.backbone_args", '{"drop_path_rate": 0.2}')
CACHE = ("--data.pixel_cache", "true")
N_EVAL = 128  # the tiny benchmark's evaluation images (the same set in both windows)
N_TRAIN = (128, 256)  # its training images per window (cumulative: window 1 holds window 0's)


def fit(
    config: Path,
    dataset: Path,
    runs: Path,
    experiment: str,
    *extra: str,
    log: Path,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """``aigenbench fit`` in a process group of its own (a crash kills that group only)."""
    log.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "aigenbench.cli",
            *fit_args(config, dataset, runs, experiment, *FIXED, *DRAWS, *HOOKS, *extra),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        start_new_session=True,
        env={
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join([str(REPOSITORY), os.environ.get("PYTHONPATH", "")]),
            "AIGENBENCH_TEST_PIXEL_LOG": str(log),
            **env,
        },
    )


def events(log: Path, rank: int) -> list[tuple[float, str]]:
    """``(time, event)`` of one rank, in order (none: the rank recorded nothing)."""
    path = log / f"events_rank{rank}.txt"
    if not path.is_file():
        return []
    pairs = (line.split(" ", 1) for line in path.read_text().splitlines())
    return [(float(when), what) for when, what in pairs]


def kinds(log: Path, rank: int) -> Counter[str]:
    return Counter(what.split(" ")[0] for _, what in events(log, rank))


def written(log: Path, rank: int) -> int:
    return sum(int(what.split()[1]) for _, what in events(log, rank) if what.startswith("write"))


@pytest.fixture(scope="module")
def setup(tiny_benchmark: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The config, and the two-window DDP run without the cache (what the cache must equal)."""
    root = tmp_path_factory.mktemp("ddp_pixels")
    config = write_config(root)  # the backbone trains: every window reads its pixels
    plain = fit(config, tiny_benchmark, root / "runs", "plain", *TWO, log=root / "log_plain")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    return {"root": root, "config": config, "dataset": tiny_benchmark}


def test_rank_0_alone_fills_the_stores_and_predictions_equal_the_run_without_them(setup):
    root, runs, log = setup["root"], setup["root"] / "runs", setup["root"] / "log_cached"
    cached = fit(setup["config"], setup["dataset"], runs, "cached", *TWO, *CACHE, log=log)
    assert cached.returncode == 0, cached.stdout + cached.stderr
    assert "GLOBAL_RANK: 1" in cached.stdout + cached.stderr
    assert_same_predictions(runs / "plain", runs / "cached", windows=2)  # bit for bit

    # Rank 0 decodes every evaluation image once (not once per window) and every training
    # sample once; it alone writes. Rank 1 decodes nothing and reads its share from the stores.
    zero, one = kinds(log, 0), kinds(log, 1)
    assert zero["decode"] == N_EVAL + N_TRAIN[1], zero
    assert written(log, 0) == N_EVAL + N_TRAIN[1]
    assert one["decode"] == 0 and one["write"] == 0, one
    assert one["read"] > 0 and zero["read"] > 0
    # ... and opens each store read-only, only once rank 0 has written what that store lacked
    opened = [when for when, what in events(log, 1) if what.startswith("open")]
    assert [w for _, w in events(log, 1) if w.startswith("open")] == [
        "open train 0",
        "open validate 0",
    ] * 2
    filling: list[list[float]] = []  # rank 0's writes after each of its opens
    for when, what in events(log, 0):
        if what.startswith("open"):
            assert what.endswith(" 1"), what  # rank 0 opens to write
            filling.append([])
        elif what.startswith("write"):
            filling[-1].append(when)
    assert len(filling) == len(opened) and sum(map(len, filling)) == 3  # train, eval, train
    for writes, when in zip(filling, opened, strict=True):
        assert all(write < when for write in writes)
    plain_log = root / "log_plain"  # without the cache each rank decodes its share, each window
    assert kinds(plain_log, 0)["decode"] > 0 and kinds(plain_log, 1)["decode"] > 0


def test_a_store_filled_by_one_process_is_reused_by_two(setup):
    runs, log = setup["root"] / "runs", setup["root"] / "log_reuse"
    args = (setup["config"], setup["dataset"], runs, "grown", *CACHE, *BATCH)
    one = fit(*args, "--window", "0", log=log / "one")
    assert one.returncode == 0, one.stdout + one.stderr
    assert kinds(log / "one", 0)["decode"] == N_EVAL + N_TRAIN[0]
    # the same experiment continued on two processes (window 1 only: window 0 is done)
    two = fit(*args, *TWO, "--experiment.allow_world_size_change", "true", log=log / "two")
    assert two.returncode == 0, two.stdout + two.stderr
    assert "built for other settings" not in two.stdout + two.stderr  # no rebuild, no refill
    assert "damaged" not in two.stdout + two.stderr
    # only window 1's new training rows are decoded: no evaluation image, no window-0 sample
    assert kinds(log / "two", 0)["decode"] == N_TRAIN[1] - N_TRAIN[0]
    assert written(log / "two", 0) == N_TRAIN[1] - N_TRAIN[0]
    assert kinds(log / "two", 1)["decode"] == 0 and kinds(log / "two", 1)["read"] > 0


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM"])
def test_a_fill_interrupted_under_ddp_resumes_without_decoding_twice(setup, stop):
    """SIGKILL: every process dies at once, part-way through the fill (a node losing power);
    SIGTERM: a cluster's stop (every rank signalled): the fill ends after the batch in hand,
    keeps what it wrote, and every rank stops there."""
    runs, log = setup["root"] / "runs", setup["root"] / f"log_{stop}"
    args = (setup["config"], setup["dataset"], runs, stop, *TWO, *CACHE, "--window", "0")
    crash = {
        "AIGENBENCH_TEST_PIXEL_CRASH_AFTER_WRITES": "2",
        "AIGENBENCH_TEST_PIXEL_CRASH_SIGNAL": stop,
    }
    stopped = fit(*args, log=log / "first", **crash)
    assert stopped.returncode == (-9 if stop == "SIGKILL" else 130), stopped.stdout
    stored = np.count_nonzero(np.load(runs / stop / "pixels" / "train" / "filled.npy"))
    assert stored == 64  # two batches of 32 written, then the kill or the stop: no more filled
    # the fill stops after the batch in hand and every rank stops there: nothing is decoded
    # that is not stored
    assert kinds(log / "first", 0)["decode"] == stored
    if stop == "SIGTERM":
        assert "Run the same command again" in stopped.stdout + stopped.stderr
    again = fit(*args, log=log / "again")
    assert again.returncode == 0, again.stdout + again.stderr
    assert kinds(log / "again", 0)["decode"] == N_EVAL + N_TRAIN[0] - stored  # none twice
    assert kinds(log / "again", 1)["decode"] == 0
    assert_same_predictions(runs / "plain", runs / stop, windows=1)
