"""Several nodes: two torchrun launches of one process each (``--nnodes 2``, gloo, on this
machine) give the predictions of two processes on one node; a node that cannot see rank 0's run
folder stops with one sentence instead of hanging."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.training.conftest import fit_args, load_predictions, run_aigenbench, write_config

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[2]
ONE_WINDOW = ("--window", "0", "--data.train_batch_size", "8", "--trainer.strategy", "ddp")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def launch_two_nodes(per_node_args: list[list[str]]) -> list[subprocess.CompletedProcess]:
    """``torchrun --nnodes 2 --nproc-per-node 1 --node-rank k`` for k = 0, 1, as on two hosts."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--nproc-per-node",
                "1",
                "--node-rank",
                str(rank),
                "--master-addr",
                "127.0.0.1",
                "--master-port",
                str(port),
                "-m",
                "aigenbench.cli",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=REPOSITORY,
        )
        for rank, args in enumerate(per_node_args)
    ]
    results = []
    for process in processes:
        output, _ = process.communicate(timeout=900)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, output, ""))
    return results


def test_two_nodes_score_like_two_processes_on_one_node(tiny_benchmark, tmp_path):
    config = write_config(tmp_path, freezing="probe")  # the feature cache: rank 0 creates it
    runs = tmp_path / "runs"
    one_node = run_aigenbench(
        fit_args(config, tiny_benchmark, runs, "node", *ONE_WINDOW, "--trainer.devices", "2"),
        timeout=900,
    )
    assert one_node.returncode == 0, one_node.stdout + one_node.stderr
    nodes = [
        fit_args(
            config,
            tiny_benchmark,
            runs,
            "nodes",
            *ONE_WINDOW,
            "--trainer.devices",
            "1",
            "--trainer.num_nodes",
            "2",
        )
    ] * 2
    for launched in launch_two_nodes(nodes):
        assert launched.returncode == 0, launched.stdout
    single, double = load_predictions(runs / "node", 0), load_predictions(runs / "nodes", 0)
    assert single.keys() == double.keys()
    for key in single:
        if single[key].dtype.kind == "f":
            np.testing.assert_allclose(single[key], double[key], rtol=0, atol=1e-5, err_msg=key)
        else:
            np.testing.assert_array_equal(single[key], double[key], err_msg=key)
    assert sorted(p.name for p in (runs / "nodes").iterdir() if p.name.startswith(".shared")) == []


def test_a_node_that_cannot_see_the_run_folder_stops_with_a_sentence(tiny_benchmark, tmp_path):
    config = write_config(tmp_path)
    per_node = [
        fit_args(
            config,
            tiny_benchmark,
            tmp_path / f"disk_of_node_{rank}",  # two disks at two paths: nothing shared
            "blind",
            *ONE_WINDOW,
            "--trainer.devices",
            "1",
            "--trainer.num_nodes",
            "2",
        )
        for rank in (0, 1)
    ]
    node_0, node_1 = launch_two_nodes(per_node)
    assert node_0.returncode != 0 and node_1.returncode != 0
    sentence = "cannot see the run folder"
    assert f"this process (global rank 1 on host {socket.gethostname()}) {sentence}" in (
        node_1.stdout
    ), node_1.stdout
    assert "process(es) [1]" in node_0.stdout, node_0.stdout
    assert "experiment.runs_dir" in node_1.stdout
    assert "Traceback" not in node_1.stdout.split("aigenbench fit: error:")[0]
