"""A small experiment directory in our own layout, for the command and report tests."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aigenbench.evaluation.predictions import build_predictions, save_predictions
from tests.evaluation.official_format import make_eval_set, random_crop_scores

SMALL_WINDOWS = [["ProGAN", "StyleGAN"], ["DDPM", "Glide"], ["SDXL", "FLUX"]]


def write_our_run(
    run_dir, windows=SMALL_WINDOWS, per_generator=12, steps=None, score_seed=0, sharpen=0.0
):
    """``score_seed``: another detector on the same images; ``sharpen``: fakes' scores pushed
    up and reals' down by that much (a better detector)."""
    eval_set = make_eval_set(windows, per_generator=per_generator, seed=21)
    for step in range(len(windows)) if steps is None else steps:
        crops = random_crop_scores(eval_set, step, seed=step + 1000 * score_seed, crops=None)
        if sharpen:
            crops = [
                np.clip(c + (sharpen if g else -sharpen), 0, 1).astype(np.float32)
                for c, g in zip(crops, eval_set.generator_ids, strict=True)
            ]
        counts = [len(c) for c in crops]
        predictions = build_predictions(
            np.concatenate(crops),
            np.repeat((eval_set.generator_ids != 0).astype(int), counts),
            np.repeat(eval_set.generator_ids, counts),
            np.repeat(eval_set.ids, counts),
            generator_names=eval_set.generator_names,
            windows=windows,
            pairing=eval_set.pairing,
        )
        save_predictions(run_dir / f"window_{step}" / "predictions_validate.npz", predictions)
    return eval_set


@pytest.fixture
def our_run(tmp_path):
    run_dir = tmp_path / "runs" / "exp1"
    write_our_run(run_dir)
    (run_dir / "config.yaml").write_text("model:\n  name: tiny_probe  # <b>not html</b>\n")
    (run_dir / "summary.json").write_text(
        json.dumps({"data": {"unreadable_images": 2, "unreadable": [{"id": 17, "path": "x.png"}]}})
    )
    return run_dir
