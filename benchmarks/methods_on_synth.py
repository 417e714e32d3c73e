"""Every method on the built-in synthetic benchmark, and the frozen-start question.

Part 1, ``--part zoo``: each zoo method (tiny random-init stand-ins of its backbone, 32 px,
CPU) through the protocol's windows; one table: averaged Next / Past / Whole AUROC, training
time, trainable parameters. The stand-ins are far from the papers' pretrained ViT-L/14 and
ResNet-50: the table shows the methods run on the protocol, not how they rank.

Part 2, ``--part freezing``: a small ViT is first trained on *other* generators (the last four
of the synthetic timeline, never seen by the benchmark) and saved; then probe, staged
(unfrozen from window 1), LoRA and tune start from that same encoder on the benchmark's first
windows. Per window AUROC (Next / Whole) and wall time: does the frozen start shortcut early
training, and what does unfreezing buy?

    python benchmarks/methods_on_synth.py [--part zoo|freezing|all] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from aigenbench.cli import main
from aigenbench.data.synth import GENERATORS, SynthConfig, build_synthetic

COMMON = {
    "data": {
        "train_batch_size": 32,
        "eval_batch_size": 128,
        "num_workers": 0,
        "augmentation_factor": 1,
    },
    "trainer": {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False},
    "experiment": {"loggers": ["csv"]},
}

TINY_VIT = {"backbone": "timm:test_vit", "backbone_args": {"patch_size": 8}}
ADAM = {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.001}}
ZOO: dict[str, dict[str, Any]] = {
    "default (tune, tiny CNN)": {"backbone": "small:cnn", "freezing": "tune"},
    "univfd": {"method": "univfd", **TINY_VIT, "freezing": "probe"},
    "cnndetection": {
        "method": "cnndetection",
        "backbone": "timm:test_resnet",
        "freezing": "tune",
        "train_crop": "random_crop",
    },
    "npr": {"method": "npr", "backbone": "timm:test_resnet", "freezing": "tune"},
    "rine": {
        "method": "rine",
        **TINY_VIT,
        "freezing": "probe",
        "method_args": {"projection": 32, "projection_layers": 1},
    },
    "effort": {"method": "effort", **TINY_VIT, "freezing": "tune"},
    "lora (ViT)": {**TINY_VIT, "freezing": "lora", "lora": {"rank": 4, "alpha": 8}},
}


def write_config(path: Path, model: dict[str, Any], **sections: Any) -> Path:
    config = {**COMMON, **sections, "model": {"pretrained": False, "input_size": 32, **model}}
    if "optimizer" not in config["model"]:
        config["model"]["optimizer"] = ADAM
    path.write_text(yaml.safe_dump(config))
    return path


def fit(config: Path, dataset: Path, runs: Path, name: str, *extra: str) -> dict[str, Any]:
    started = time.perf_counter()
    code = main(
        [
            "fit",
            "--config",
            str(config),
            "--dataset",
            str(dataset),
            "--runs-dir",
            str(runs),
            "--experiment-id",
            name,
            *extra,
        ]
    )
    if code != 0:
        raise SystemExit(f"{name}: fit failed ({code})")
    run = runs / name
    summary = json.loads((run / "summary.json").read_text())["metrics"]["headline"]
    windows = sorted(run.glob("window_*/DONE"), key=lambda p: int(p.parent.name.split("_")[1]))
    done = [json.loads(p.read_text()) for p in windows]
    return {
        "headline": summary,
        "windows": [d["headline"] for d in done],
        "train_seconds": sum(d["seconds"] for d in done),
        "wall_seconds": time.perf_counter() - started,
    }


def trainable_parameters(config: Path) -> int:
    from aigenbench.methods import resolve_method
    from aigenbench.models import ModelConfig

    model = ModelConfig(**yaml.safe_load(config.read_text())["model"])
    module = resolve_method(model.method)(model)
    return sum(p.numel() for g in module.parameter_groups() for p in g["params"] if p.requires_grad)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def zoo(root: Path) -> list[str]:
    dataset = root / "synth_zoo"
    if not dataset.exists():
        build_synthetic(
            dataset,
            SynthConfig(
                seed=0, size=32, per_generator=48, validation_per_generator=16, generators=12
            ),
        )
    lines = [
        "| method | Next | Past | Whole | train time (s) | trainable params |",
        "|---|---|---|---|---|---|",
    ]
    for name, model in ZOO.items():
        slug = name.split(" ")[0]
        config = write_config(root / f"{slug}.yaml", model)
        result = fit(config, dataset, root / "runs", slug)
        head = result["headline"]
        lines.append(
            f"| {name} | {percent(head['next_auroc'])} | {percent(head['past_auroc'])} | "
            f"{percent(head['whole_auroc'])} | {result['train_seconds']:.0f} | "
            f"{trainable_parameters(config):,} |"
        )
        print(lines[-1], flush=True)
    return lines


ENCODERS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # name -> (model settings, LoRA settings)
    "cnn": (
        {"backbone": "small:cnn", "backbone_args": {"width": 16}},
        {"rank": 4, "alpha": 8, "targets": ["0", "3", "6", "9"]},  # its four convolutions
    ),
    "vit": (
        {"backbone": "timm:test_vit", "backbone_args": {"patch_size": 4, "depth": 4}},
        {"rank": 4, "alpha": 8},  # qkv, proj, fc1, fc2
    ),
}


def freezing(root: Path, encoder_name: str = "cnn", epochs: int = 2) -> list[str]:
    encoder, lora = ENCODERS[encoder_name]
    root = root / encoder_name
    root.mkdir(parents=True, exist_ok=True)
    # 1. the "global encoder": trained on the last four generators only (never in part 2)
    other = root / "synth_other"
    if not other.exists():
        build_synthetic(
            other,
            SynthConfig(
                seed=1, size=32, per_generator=96, validation_per_generator=8, generators=16
            ),
        )
    timeline = root / "other_timeline.csv"
    with timeline.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["generator", "release_date"])
        for generator in GENERATORS[12:16]:
            writer.writerow([generator.name, generator.release_date])
    pre_config = write_config(
        root / "pretrain.yaml",
        {**encoder, "freezing": "tune"},
        protocol={"timeline": str(timeline), "unknown_generators": "drop"},
        trainer={**COMMON["trainer"], "max_epochs": 3},
    )
    pre = fit(pre_config, other, root / "runs", "pretrain")
    checkpoint = root / "runs" / "pretrain" / "window_0" / "checkpoints" / "final.ckpt"
    print(
        f"encoder pretrained on {[g.name for g in GENERATORS[12:16]]} in "
        f"{pre['train_seconds']:.0f} s",
        flush=True,
    )
    # 2. the same encoder, four ways, on the benchmark's first 12 generators (3 windows)
    dataset = root / "synth_freezing"
    if not dataset.exists():
        build_synthetic(
            dataset,
            SynthConfig(
                seed=0, size=32, per_generator=48, validation_per_generator=16, generators=12
            ),
        )
    slow = {"backbone_lr_scale": 0.1}  # a pretrained encoder adapts at a tenth of the head's lr
    modes = {
        "probe": {"freezing": "probe"},
        "staged (window 1, backbone lr x0.1)": {
            "freezing": "staged",
            "unfreeze_at": {"window": 1},
            **slow,
        },
        "lora (r=4)": {"freezing": "lora", "lora": lora},
        "tune (backbone lr x0.1)": {"freezing": "tune", **slow},
        "tune (backbone lr x1)": {"freezing": "tune"},
        "tune from scratch": {"freezing": "tune", "pretrained": False},
    }
    trainer = {**COMMON["trainer"], "max_epochs": epochs}
    lines = [
        "| start | "
        + " | ".join(f"w{k} Next / Whole" for k in range(3))
        + " | avg Next | avg Whole | wall (s) |",
        "|---|" + "---|" * 6,
    ]
    for name, mode in modes.items():
        slug = re.sub(r"[^a-z0-9]+", "_", name).strip("_")
        model = {**encoder, "pretrained": str(checkpoint), **mode}
        config = write_config(root / f"freezing_{slug}.yaml", model, trainer=trainer)
        result = fit(config, dataset, root / "runs", f"freezing_{slug}")
        cells = [
            f"{percent(w['next_auroc'])} / {percent(w['whole_auroc'])}" for w in result["windows"]
        ]
        head = result["headline"]
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {percent(head['next_auroc'])} | "
            f"{percent(head['whole_auroc'])} | {result['wall_seconds']:.0f} |"
        )
        print(lines[-1], flush=True)
    return lines


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("zoo", "freezing", "all"), default="all")
    parser.add_argument(
        "--encoder",
        choices=sorted(ENCODERS),
        default="cnn",
        help="the pretrained encoder of the freezing comparison (cnn)",
    )
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: temporary)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        root = args.out or Path(temporary)
        root.mkdir(parents=True, exist_ok=True)
        tables = []
        if args.part in ("zoo", "all"):
            tables.append("\n".join(zoo(root)))
        if args.part in ("freezing", "all"):
            tables.append("\n".join(freezing(root, args.encoder)))
        print("\n\n".join(tables))


if __name__ == "__main__":
    run()
