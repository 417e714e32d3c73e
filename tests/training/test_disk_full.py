"""A full disk is one sentence, whatever raised it; the last good files stay; the rerun resumes.

The disk is real: a small tmpfs mounted for the test (root, or a user namespace's root), so
the writers fail as they do on a cluster's scratch space: ``torch.save`` with its
``RuntimeError`` "unexpected pos" (after an ``OSError`` ENOSPC, or with no errno at all when
torch writes the file itself), NumPy and JSON with ``OSError``. Skipped, with the reason, where
nothing can be mounted.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from aigenbench.cli import main
from aigenbench.files import (
    DiskFull,
    disk_full_is_a_sentence,
    write_atomic,
    write_json_atomic,
)
from aigenbench.training.checkpoint_io import save_checkpoint_atomic
from tests.training.conftest import assert_same_predictions, fit_args, run_aigenbench

FREE_TEXT = r"no space left on the disk of {folder} while writing {name}: [0-9.]+ (B|KiB|MiB) free"


class SmallDisk:
    """A tmpfs of a few hundred KiB at ``path``; ``resize`` grows or shrinks it in place."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mount(self, kib: int) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(self.path)],
            capture_output=True,
            text=True,
            check=False,
        )

    def resize(self, kib: int) -> None:
        subprocess.run(
            ["mount", "-o", f"remount,size={kib}k", str(self.path)], check=True, capture_output=True
        )

    def fill(self, leave_kib: int) -> None:
        """Take all but ``leave_kib`` of the free space with a filler file."""
        free = shutil.disk_usage(self.path).free
        with open(self.path / "filler", "wb") as handle:
            handle.write(b"\0" * max(0, free - leave_kib * 1024))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command: a real small filesystem cannot be made here")
    disk = SmallDisk(tmp_path / "disk")
    disk.path.mkdir()
    mounted = disk.mount(512)
    if mounted.returncode != 0:
        pytest.skip(
            "cannot mount a small tmpfs here (needs root or CAP_SYS_ADMIN): "
            + (mounted.stderr.strip() or f"mount exited {mounted.returncode}")
        )
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk.path)], check=False, capture_output=True)


def test_torch_save_on_a_full_disk_is_one_sentence_and_keeps_the_previous_file(small_disk):
    path = small_disk.path / "checkpoints" / "last.ckpt"
    save_checkpoint_atomic({"state_dict": {"w": torch.zeros(1000)}}, path)
    small_disk.fill(leave_kib=64)
    big = {"state_dict": {"w": torch.arange(100_000, dtype=torch.float32)}}  # 400 KB
    with pytest.raises(DiskFull, match=FREE_TEXT.format(folder=path.parent, name="last.ckpt")) as e:
        save_checkpoint_atomic(big, path)
    assert "about 390.6 KiB needed" in str(e.value)
    assert isinstance(e.value.__cause__, RuntimeError), "torch's real failure is a RuntimeError"
    kept = torch.load(path, weights_only=True)
    assert torch.equal(kept["state_dict"]["w"], torch.zeros(1000))
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"], "temporary file left"


@pytest.mark.parametrize("writer", ["numpy", "json"])
def test_other_writers_on_a_full_disk_are_one_sentence(small_disk, writer):
    small_disk.fill(leave_kib=16)
    path = small_disk.path / f"out.{writer}"
    with pytest.raises(DiskFull, match=FREE_TEXT.format(folder=small_disk.path, name=path.name)):
        if writer == "numpy":
            write_atomic(path, lambda handle: np.save(handle, np.zeros(100_000)))
        else:
            write_json_atomic(path, {"ids": list(range(100_000))})
    assert not path.exists()


def test_torch_writing_the_file_itself_raises_no_errno_and_is_still_recognised(small_disk):
    """torch.save(path) writes through C++: 'unexpected pos' with no OSError anywhere."""
    small_disk.fill(leave_kib=16)
    expected = f"no space left on the disk of {small_disk.path}"
    with pytest.raises(DiskFull, match=expected), disk_full_is_a_sentence(small_disk.path):
        torch.save({"w": torch.zeros(100_000)}, small_disk.path / "direct.ckpt")


def test_other_runtime_errors_are_not_a_full_disk(tmp_path):
    with pytest.raises(RuntimeError, match="unexpected pos"), disk_full_is_a_sentence(tmp_path):
        raise RuntimeError("unexpected pos 10 vs 5")  # plenty of space here: not ours


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a reference run and two runs of the tiny benchmark
def test_fit_on_a_full_disk_stops_with_a_sentence_and_resumes_once_space_is_freed(
    small_disk, finished, tiny_benchmark, tmp_path
):
    reference, config = finished
    checkpoint = (reference / "window_0" / "checkpoints" / "final.ckpt").stat().st_size
    runs = small_disk.path / "runs"
    # Room for window 0 (two rolling checkpoints beside each other while one replaces the other)
    # and, in window 1, for final.ckpt of window 0 and one rolling checkpoint, not two.
    small_disk.resize(int(ROLLING_FACTOR * checkpoint / 1024))
    args = fit_args(config, tiny_benchmark, runs, "full")
    stopped = run_aigenbench(args)
    assert stopped.returncode == DiskFull.exit_code, stopped.stdout + stopped.stderr
    assert "Traceback" not in stopped.stderr, stopped.stderr
    error = stopped.stderr.strip().splitlines()[-1]
    checkpoints = runs / "full" / "window_1" / "checkpoints"
    assert error.startswith(
        f"aigenbench fit: error: no space left on the disk of {checkpoints} while writing "
        "last.ckpt: "
    ), error
    assert re.search(r": [0-9.]+ MiB free, about [0-9.]+ MiB needed\. ", error), error
    last = torch.load(checkpoints / "last.ckpt", weights_only=True)
    assert last["global_step"] > 0, "the last good checkpoint is kept"
    assert [p.name for p in checkpoints.iterdir()] == ["last.ckpt"], "a temporary file is left"
    small_disk.resize(64 * 1024)  # space freed
    assert main(args) == 0  # the same command again (in this process: faster)
    assert_same_predictions(reference, runs / "full", 2)


ROLLING_FACTOR = 4.7
"""In units of final.ckpt (weights); last.ckpt (weights + optimiser state) is about twice it."""
