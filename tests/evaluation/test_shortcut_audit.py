"""The shortcut audit: a traits-only classifier finds a format shortcut, and none where there is
none; file traits from headers; the pretraining cut-off table."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aigenbench.data.file_traits import TRAIT_NAMES, estimate_jpeg_quality, file_traits
from aigenbench.evaluation.predictions import load_predictions
from aigenbench.evaluation.shortcut import hanley_mcneil_se, shortcut_verdict
from aigenbench.models.pretraining_cutoffs import backbone_pretraining

GENERATORS = [f"gen{i}" for i in range(8)]  # 2 windows of 4


def _encode(image: np.ndarray, fmt: str, quality: int) -> bytes:
    stream = io.BytesIO()
    options = {"quality": quality} if fmt == "JPEG" else {}
    Image.fromarray(image).save(stream, format=fmt, **options)
    return stream.getvalue()


def build_dataset(root: Path, shortcut: bool, seed: int = 0) -> Path:
    """A folder dataset of 32x32 noise images. With ``shortcut``, every fake is a PNG and every
    real a JPEG; without, each image is PNG or JPEG by a coin flip, whatever its label."""
    rng = np.random.default_rng(seed)
    counts = {"train": 12, "validation": 16}
    for split, per_generator in counts.items():
        classes = {"real": per_generator * len(GENERATORS)} | dict.fromkeys(
            GENERATORS, per_generator
        )
        for name, count in classes.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                if shortcut:
                    fmt = "JPEG" if name == "real" else "PNG"
                else:
                    fmt = "JPEG" if rng.random() < 0.5 else "PNG"
                quality = int(rng.integers(70, 96))
                suffix = ".jpg" if fmt == "JPEG" else ".png"
                (folder / f"{index:04d}{suffix}").write_bytes(_encode(image, fmt, quality))
    lines = ["generator,release_date"]
    lines += [f"{name},{dt.date(2020, 1, 1 + i).isoformat()}" for i, name in enumerate(GENERATORS)]
    (root / "timeline.csv").write_text("\n".join(lines) + "\n")
    return root


def make_run(tmp_path: Path, dataset: Path, name: str, backbone: str = "small:cnn") -> Path:
    run_dir = tmp_path / "runs" / name
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(
        f"model:\n  backbone: {backbone}\n  pretrained: true\ndata:\n  source: {dataset}\n"
    )
    return run_dir


def test_jpeg_quality_is_estimated_from_the_tables_without_decoding():
    image = np.random.default_rng(1).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    for quality in (20, 50, 75, 92, 100):
        traits = dict(zip(TRAIT_NAMES, file_traits(_encode(image, "JPEG", quality)), strict=True))
        assert traits["jpeg_quality"] == quality
        assert traits["is_jpeg"] == 1 and traits["width"] == 40 and traits["height"] == 24
    png = dict(zip(TRAIT_NAMES, file_traits(_encode(image, "PNG", 0)), strict=True))
    assert png["is_png"] == 1 and png["jpeg_quality"] == 0
    assert png["aspect"] == pytest.approx(40 / 24)
    # The estimate reads the table, not the pixels: a truncated file keeps its header.
    encoded = _encode(image, "JPEG", 60)
    truncated = encoded[: encoded.index(b"\xff\xda") + 16]  # headers, no entropy-coded data
    assert file_traits(truncated)[TRAIT_NAMES.index("jpeg_quality")] == 60
    assert estimate_jpeg_quality([1] * 64) == 100
    assert np.isnan(file_traits(b"not an image")[TRAIT_NAMES.index("width")])


def test_audit_finds_a_format_shortcut(tmp_path, run_cli):
    dataset = build_dataset(tmp_path / "shortcut", shortcut=True)
    run_dir = make_run(tmp_path, dataset, "fmt")
    result = run_cli("audit", run_dir)
    assert result.exit_code == 0, result.err
    assert "SHORTCUT" in result.out
    document = json.loads((run_dir / "audit" / "audit.json").read_text())
    assert document["shortcut"] is True
    assert document["next_auroc"] > 0.95 and document["headline"]["past_auroc"] > 0.95
    assert document["trait_auroc"]["is_png"] > 0.95
    # Scored like any detector: official-format predictions of the whole evaluation set.
    predictions = load_predictions(run_dir / "audit" / "window_0" / "predictions_validate.npz")
    assert predictions.n_images == 2 * 16 * len(GENERATORS)
    assert set(predictions.pairing.tolist()) - {-1}  # reals paired with generators


def test_audit_stays_near_chance_without_a_format_difference(tmp_path, run_cli):
    dataset = build_dataset(tmp_path / "fair", shortcut=False, seed=2)
    run_dir = make_run(tmp_path, dataset, "fair")
    result = run_cli("audit", run_dir, "--json", "--classifier", "logistic")
    assert result.exit_code == 0, result.err
    document = json.loads(result.out)
    assert document["shortcut"] is False and "no shortcut" in document["verdict"]
    assert abs(document["next_auroc"] - 0.5) < 0.15
    assert abs(document["trait_auroc"]["is_png"] - 0.5) < 0.15


def test_encoder_cutoffs_flag_generators_released_before_them(tmp_path, run_cli):
    dataset = build_dataset(tmp_path / "fair", shortcut=False, seed=2)
    # Generators are released in January 2020: before every web-scale data set's cut-off,
    # after ImageNet's.
    run_dir = make_run(tmp_path, dataset, "dino", backbone="timm:vit_small_patch14_dinov2.lvd142m")
    document = json.loads(run_cli("audit", run_dir, "--json").out)
    encoder = document["encoder"]
    assert encoder["data"] == "DINOv2 (LVD-142M)"
    assert all(row["may_have_seen"] for row in encoder["generators"])
    imagenet = next(row for row in encoder["table"] if row["data"].startswith("ImageNet"))
    assert imagenet["generators_before_cutoff"] == 0 and not imagenet["this_run"]
    assert next(row for row in encoder["table"] if row["this_run"])["data"].startswith("DINOv2")
    table = run_cli("audit", run_dir)
    assert "Pretraining data cut-offs" in table.out and "(this run)" in table.out


def test_backbone_specs_map_to_their_pretraining_data():
    assert backbone_pretraining("timm:resnet50_clip.openai").name.startswith("OpenAI CLIP")
    assert backbone_pretraining("open_clip:ViT-L-14/commonpool_xl_s13b_b90k").name.startswith(
        "DataComp"
    )
    assert backbone_pretraining("open_clip:ViT-B-32/laion2b_s34b_b79k").name.startswith("LAION-2B")
    assert backbone_pretraining("timm:resnet18.a1_in1k").name.startswith("ImageNet")
    assert backbone_pretraining("small:cnn") is None


def test_audit_of_a_folder_that_is_not_an_experiment(tmp_path, run_cli):
    result = run_cli("audit", tmp_path)
    assert result.exit_code == 2 and "not an experiment directory" in result.err


def test_verdict_needs_both_significance_and_a_practical_margin():
    # Hanley & McNeil at AUROC 0.5 with 100 + 100 images, by hand: q1 = q2 = 1/3,
    # variance = (1/4 + 99 (1/12) + 99 (1/12)) / 100^2.
    assert hanley_mcneil_se(0.5, 100, 100) == pytest.approx(((0.25 + 198 / 12) / 1e4) ** 0.5)
    assert shortcut_verdict([(0.9, 100, 100), (0.8, 100, 100)])[2] is True
    # Significant with 10^5 images per class, but within 5 points of chance: no shortcut.
    mean, se, shortcut = shortcut_verdict([(0.53, 100_000, 100_000)])
    assert mean - 0.5 > 1.96 * se and shortcut is False
    # Far from chance on a handful of images: not significant.
    assert shortcut_verdict([(0.7, 4, 4)])[2] is False
    assert shortcut_verdict([]) == (None, None, False)
