"""Is the synthetic benchmark learnable but not trivial? Train a tiny CNN window after window.

The cumulative protocol on the built-in synthetic benchmark, with plain torch (no Lightning): after
training on windows 0..k (starting from the weights of step k-1, as the protocol does) the whole
evaluation set is scored once, **with the mandatory evaluation degradations**, and AUROC is cut
per period: past (windows < k), current (k), next (k+1), each with its paired reals.

    python benchmarks/synth_learnability.py [--data DIR] [--epochs 2] [--factor 2]

The synthetic benchmark must give: next clearly above 0.5, and clearly below past.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import DataLoader

from aigenbench.data.batch import collate_evaluation, collate_training
from aigenbench.data.config import DataConfig
from aigenbench.data.datamodule import WindowDataModule
from aigenbench.data.loading import worker_init_fn
from aigenbench.data.sampler import WindowSampler
from aigenbench.data.sources import open_source
from aigenbench.data.synth import SynthConfig, build_synthetic
from aigenbench.protocol import ProtocolConfig, make_plan

NO_AUGMENTATION = {
    "class_path": "aigenbench.data.pipelines.BaselineTrainAugmentation",
    "init_args": {
        f"p_{name}": 0.0
        for name in ("resized_crop", "color_jitter", "grayscale", "cutout", "noise", "blur", "jpeg")
    },
}


def tiny_cnn() -> nn.Module:
    """Four 3x3 conv blocks, no early pooling (so pixel-level traces survive), global pooling."""

    def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *block(3, 16, 1),
        *block(16, 32, 2),
        *block(32, 64, 2),
        *block(64, 64, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 1),
    )


def to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(127.5).sub_(1.0)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    if len(set(labels.tolist())) < 2:
        return float("nan")
    return float(roc_auc_score(labels, scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="synthetic benchmark folder (built there if missing)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic benchmark seed")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per window")
    parser.add_argument("--factor", type=int, default=2, help="augmentation factor")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--augmentation",
        choices=("baseline", "none"),
        default="baseline",
        help="training augmentation: the published baselines' or none (rot90/flip only)",
    )
    parser.add_argument(
        "--no-degradations",
        action="store_true",
        help="evaluate without the mandatory degradations (not the benchmark; for comparison)",
    )
    parser.add_argument(
        "--windows", type=int, nargs="*", help="train and score only these windows (default: all)"
    )
    parser.add_argument("--per-generator", action="store_true", help="print AUROC per generator")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(2)
    data = Path(args.data or Path(tempfile.gettempdir()) / f"aigenbench_synth_{args.seed}")
    started = time.perf_counter()
    build_synthetic(data, SynthConfig(seed=args.seed))
    print(f"synthetic benchmark at {data} ({time.perf_counter() - started:.1f} s)")

    source = open_source(data)
    plan = make_plan(
        source.generators("train"),
        source.generators("validation"),
        ProtocolConfig(),
        source.timeline,
    )
    config = DataConfig(
        source=str(data),
        num_workers=args.workers,
        augmentation_factor=args.factor,
        train_batch_size=args.batch,
        eval_batch_size=256,
        degradations=not args.no_degradations,
        train_pipeline=None
        if args.augmentation == "baseline"
        else {
            "class_path": "aigenbench.data.pipelines.TrainPipeline",
            "init_args": {"augmentation": NO_AUGMENTATION},
        },
    )
    model = tiny_cnn()
    evaluation = plan.evaluation("validate")
    eval_ids = np.asarray(evaluation.ids)
    eval_labels = np.asarray(evaluation.labels)
    eval_gids = np.asarray([plan.generator_names.index(g) for g in evaluation.generators])
    pairing = evaluation.pairing_of(evaluation.ids)
    target_gid = np.where(eval_labels == 1, eval_gids, pairing)  # the generator a row counts for
    window_gids = [[plan.generator_names.index(g) for g in window] for window in plan.windows]

    rows = []
    for window in args.windows if args.windows is not None else range(plan.n_windows):
        datamodule = WindowDataModule(source, plan, window, config, input_size=args.input_size)
        dataset = datamodule.train_dataset
        sampler = WindowSampler(len(dataset), config.augmentation_seed, window)
        loader = DataLoader(
            dataset,
            batch_size=args.batch,
            sampler=sampler,
            collate_fn=collate_training,
            num_workers=args.workers,
            worker_init_fn=worker_init_fn,
            persistent_workers=args.workers > 0,
        )
        steps = args.epochs * len(loader)
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=steps)
        model.train()
        t0 = time.perf_counter()
        for epoch in range(args.epochs):
            sampler.set_epoch(epoch)
            for batch in loader:
                logits = model(to_float(batch["image"])).squeeze(1)
                loss = nn.functional.binary_cross_entropy_with_logits(
                    logits, batch["label"].float()
                )
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
        train_s = time.perf_counter() - t0

        model.eval()
        scores = np.zeros(len(eval_ids))
        eval_loader = DataLoader(
            datamodule.eval_dataset("validate"),
            batch_size=256,
            collate_fn=collate_evaluation,
            num_workers=args.workers,
            worker_init_fn=worker_init_fn,
        )
        position = 0
        with torch.inference_mode():
            for batch in eval_loader:
                crop_scores = model(to_float(batch["image"])).squeeze(1).sigmoid().numpy()
                n = int(batch["crop_to_image"].max()) + 1
                fused = np.bincount(batch["crop_to_image"].numpy(), crop_scores, minlength=n)
                fused /= np.bincount(batch["crop_to_image"].numpy(), minlength=n)
                scores[position : position + n] = fused
                position += n

        def period(windows: range, scores=scores) -> float:
            gids = {g for w in windows for g in window_gids[w]}
            mask = np.isin(target_gid, list(gids))
            return auroc(scores[mask], eval_labels[mask])

        row = {
            "window": window,
            "past": period(range(window)),
            "current": period(range(window, window + 1)),
            "next": period(range(window + 1, window + 2)) if window + 1 < plan.n_windows else None,
            "all": auroc(scores, eval_labels),
            "train_seconds": round(train_s, 1),
        }
        if args.per_generator:
            row["generators"] = {
                plan.generator_names[g]: round(
                    auroc(scores[target_gid == g], eval_labels[target_gid == g]), 3
                )
                for w in window_gids
                for g in w
            }
        rows.append(row)
        shown = {k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in row.items()}
        print(shown, flush=True)

    nexts = [r["next"] for r in rows if r["next"] is not None] or [float("nan")]
    pasts = [r["past"] for r in rows if r["window"] > 0] or [float("nan")]
    summary = {
        "mean_next_auroc": float(np.mean(nexts)),
        "mean_past_auroc": float(np.mean(pasts)),
        "mean_current_auroc": float(np.mean([r["current"] for r in rows])),
        "windows": rows,
        "settings": vars(args),
    }
    print(
        f"mean AUROC: past {summary['mean_past_auroc']:.3f}, current "
        f"{summary['mean_current_auroc']:.3f}, next {summary['mean_next_auroc']:.3f} "
        f"({time.perf_counter() - started:.0f} s)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
