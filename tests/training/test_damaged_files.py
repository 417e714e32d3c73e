"""A full disk, damaged checkpoints, DONE files and config.yaml: the rerun repairs or explains.

Each trial damages a file the way a crash, a full disk or a copy cut short would, reruns the
same command and checks the predictions against the uninterrupted run (``finished``), the
messages (the file named, the repair said) and that only the missing steps were trained.
"""

from __future__ import annotations

import errno
import io
import shutil
from pathlib import Path

import pytest
import torch

from aigenbench.cli import main
from aigenbench.training import checkpoint_io
from tests.training.conftest import assert_same_predictions, fit_args
from tests.training.test_resume_exact import StepCounter, done_steps, signal_at

pytestmark = pytest.mark.slow


def copy_run(finished: tuple[Path, Path], tmp_path: Path, name: str) -> Path:
    run_dir, _ = finished
    copy = tmp_path / name
    shutil.copytree(run_dir, copy)
    (copy / ".lock").unlink(missing_ok=True)
    return copy


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def checkpoints_of(run_dir: Path, window: int) -> Path:
    return run_dir / f"window_{window}" / "checkpoints"


def test_disk_full_while_saving_keeps_the_previous_checkpoint(
    finished, tiny_benchmark, tmp_path, monkeypatch, run_cli
):
    reference, config = finished
    real_save = torch.save

    def disk_fills_up(checkpoint, handle, *args, **kwargs):
        record = checkpoint.get("aigenbench", {})
        if record.get("window") == 1 and checkpoint.get("global_step") == 4:
            buffer = io.BytesIO()
            real_save(checkpoint, buffer)
            handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(checkpoint, handle, *args, **kwargs)

    args = fit_args(config, tiny_benchmark, tmp_path, "full")
    with monkeypatch.context() as patch:
        patch.setattr(checkpoint_io.torch, "save", disk_fills_up)
        result = run_cli(*args)
    last = checkpoints_of(tmp_path / "full", 1) / "last.ckpt"
    assert result.exit_code == 28  # DiskFull's status (ENOSPC)
    assert f"no space left on the disk of {last.parent} while writing last.ckpt" in result.err
    assert "Traceback" not in result.err
    assert torch.load(last, weights_only=True)["global_step"] == 2  # the previous good one
    assert [p.name for p in last.parent.iterdir()] == ["last.ckpt"]  # no temporary leftovers
    counter = StepCounter(monkeypatch)
    assert run_cli(*args).exit_code == 0
    assert counter.steps == {1: done_steps(reference, 1) - 2}
    assert_same_predictions(reference, tmp_path / "full", 2)


def test_truncated_last_checkpoint_is_moved_aside_and_an_older_one_used(
    finished, tiny_benchmark, tmp_path, monkeypatch, run_cli
):
    reference, config = finished
    args = fit_args(config, tiny_benchmark, tmp_path, "cut")
    with monkeypatch.context() as patch:
        signal_at(patch, window=1, step=3)
        assert main(args) == 130
    directory = checkpoints_of(tmp_path / "cut", 1)
    shutil.copy(directory / "last.ckpt", directory / "hpc_ckpt_1.ckpt")  # an older good one
    truncate(directory / "last.ckpt")
    counter = StepCounter(monkeypatch)
    result = run_cli(*args)
    assert result.exit_code == 0, result.err
    assert f"checkpoint {directory / 'last.ckpt'} is damaged" in result.out
    assert "moved it to last.ckpt.broken" in result.out
    assert counter.steps == {1: done_steps(reference, 1) - 3}
    assert sorted(p.name for p in directory.iterdir()) == ["final.ckpt", "last.ckpt.broken"]
    assert_same_predictions(reference, tmp_path / "cut", 2)


def test_empty_done_is_rebuilt_from_final_weights(finished, tiny_benchmark, tmp_path, run_cli):
    reference, config = finished
    copy = copy_run(finished, tmp_path, "empty")
    shutil.rmtree(copy / "window_1")
    (copy / "window_0" / "DONE").write_text("")
    result = run_cli(*fit_args(config, tiny_benchmark, tmp_path, "empty"))
    assert result.exit_code == 0, result.err
    assert f"{copy / 'window_0' / 'DONE'} cannot be trusted" in result.out
    assert "rebuilt from" in result.out
    assert done_steps(copy, 0) == done_steps(reference, 0)
    assert (copy / "window_0" / "DONE.broken").is_file()
    assert_same_predictions(reference, copy, 2)


@pytest.mark.parametrize("damage", ["truncated", "replaced"])
def test_damaged_final_weights_of_a_done_window_are_trained_again(
    damage, finished, tiny_benchmark, tmp_path, run_cli
):
    reference, config = finished
    copy = copy_run(finished, tmp_path, damage)
    final = checkpoints_of(copy, 0) / "final.ckpt"
    if damage == "truncated":
        truncate(final)
    else:  # whole and loadable, but not the file the window wrote
        shutil.copy(checkpoints_of(copy, 1) / "final.ckpt", final)
    result = run_cli(*fit_args(config, tiny_benchmark, tmp_path, damage))
    assert result.exit_code == 0, result.err
    assert "final.ckpt" in result.out and "the window is trained again" in result.out
    assert "window 1: done earlier, skipped" in result.out
    assert_same_predictions(reference, copy, 2)


def test_damaged_final_weights_before_done_are_trained_again(
    finished, tiny_benchmark, tmp_path, run_cli
):
    reference, config = finished
    copy = copy_run(finished, tmp_path, "nodone")
    for name in ("DONE", "predictions_validate.npz", "metrics.json"):
        (copy / "window_1" / name).unlink()
    truncate(checkpoints_of(copy, 1) / "final.ckpt")
    result = run_cli(*fit_args(config, tiny_benchmark, tmp_path, "nodone"))
    assert result.exit_code == 0, result.err
    assert "final.ckpt is damaged" in result.out and "is trained again" in result.out
    assert_same_predictions(reference, copy, 2)


def test_damaged_config_yaml_is_named_with_its_repair(finished, tiny_benchmark, tmp_path, run_cli):
    _, config = finished
    copy = copy_run(finished, tmp_path, "config")
    (copy / "config.yaml").write_bytes(b"\xff\xfe\x00garbage: [")
    for result in (
        run_cli(*fit_args(config, tiny_benchmark, tmp_path, "config")),
        run_cli("validate", copy),
    ):
        assert result.exit_code == 2
        assert f"{copy / 'config.yaml'} is damaged" in result.err
        assert f"rm {copy / 'config.yaml'}" in result.err
        assert "Traceback" not in result.err


def test_validate_names_a_window_whose_files_changed(finished, tmp_path, run_cli):
    copy = copy_run(finished, tmp_path, "rescore")
    truncate(checkpoints_of(copy, 1) / "final.ckpt")
    result = run_cli("validate", copy)
    assert result.exit_code == 2
    assert "window 1 (final.ckpt has" in result.err and "aigenbench fit --config" in result.err


def test_resume_on_another_world_size_is_refused_unless_asked(
    finished, tiny_benchmark, tmp_path, monkeypatch, run_cli
):
    reference, config = finished
    args = fit_args(config, tiny_benchmark, tmp_path, "world")
    with monkeypatch.context() as patch:
        signal_at(patch, window=1, step=3)
        assert main(args) == 130
    last = checkpoints_of(tmp_path / "world", 1) / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["aigenbench_run_state"]["world_size"] == 1
    checkpoint["aigenbench_run_state"]["world_size"] = 2  # as if trained on two GPUs
    torch.save(checkpoint, last)
    refused = run_cli(*args)
    assert refused.exit_code == 2
    assert "trained by 2 process(es)" in refused.err and "this run has 1" in refused.err
    assert "--experiment.allow_world_size_change true" in refused.err
    allowed = run_cli(*args, "--experiment.allow_world_size_change", "true")
    assert allowed.exit_code == 0, allowed.err
    assert "continuing as asked" in allowed.out
    assert_same_predictions(reference, tmp_path / "world", 2)  # (one process trained it all)


def test_a_start_that_trained_nothing_does_not_pin_its_settings(
    tiny_benchmark, tiny_config, tmp_path, monkeypatch, run_cli
):
    from aigenbench.errors import ConfigError
    from aigenbench.training.module import DetectorModule

    def fails(module):
        raise ConfigError("simulated failure before the first step")

    args = fit_args(tiny_config, tiny_benchmark, tmp_path, "first", "--window", "0")
    with monkeypatch.context() as patch:
        patch.setattr(DetectorModule, "configure_optimizers", fails)
        assert run_cli(*args).exit_code == 2
    assert (tmp_path / "first" / "config.yaml").is_file()
    corrected = run_cli(*args, "--model.input_size", "48")
    assert corrected.exit_code == 0, corrected.err
    assert "nothing was trained yet" in corrected.out
    assert "input_size: 48" in (tmp_path / "first" / "config.yaml").read_text()
    # once something is trained, the settings are pinned
    assert run_cli(*args, "--model.input_size", "32").exit_code == 2


def test_a_done_copied_from_another_window_is_rebuilt_from_the_intact_final_weights(
    finished, tiny_benchmark, tmp_path, run_cli
):
    """The copied DONE's checksums describe window 1's files: they say nothing about window
    0's final.ckpt, which is whole and is used (not trained again, not moved aside)."""
    reference, config = finished
    copy = copy_run(finished, tmp_path, "copied")
    shutil.copy(copy / "window_1" / "DONE", copy / "window_0" / "DONE")
    shutil.rmtree(copy / "window_1")
    final = checkpoints_of(copy, 0) / "final.ckpt"
    before = final.read_bytes()
    result = run_cli(*fit_args(config, tiny_benchmark, tmp_path, "copied"))
    assert result.exit_code == 0, result.err
    assert "it is the record of window 1, not of window 0" in result.out
    assert f"it is rebuilt from {final}, which is intact" in result.out
    assert "missing" not in result.out and "trained again" not in result.out
    assert final.read_bytes() == before and not final.with_name("final.ckpt.broken").exists()
    assert done_steps(copy, 0) == done_steps(reference, 0)
    assert_same_predictions(reference, copy, 2)
