"""A damaged or foreign export folder is refused with an error naming the file and the fix;
a pickle is never loaded; the CLI says it in one sentence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import aigenbench
from aigenbench.errors import ConfigError
from aigenbench.export.writing import export

from .conftest import zoo_checkpoint


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("good")
    export(zoo_checkpoint(root, "cnndetection").parent.parent, root / "detector")
    return root / "detector"


@pytest.fixture
def copy(exported, tmp_path) -> Path:
    shutil.copytree(exported, tmp_path / "detector")
    return tmp_path / "detector"


def edit_config(folder: Path, change) -> None:
    config = json.loads((folder / "config.json").read_text())
    change(config)
    (folder / "config.json").write_text(json.dumps(config))


def refused(folder: Path, *patterns: str) -> str:
    with pytest.raises(ConfigError) as caught:
        aigenbench.load_detector(folder)
    message = str(caught.value)
    for pattern in patterns:
        assert pattern in message, message
    return message


def test_the_good_folder_loads(exported):
    assert aigenbench.load_detector(exported).thresholds == {"0.5": 0.5}


def test_a_missing_folder_or_config(copy, tmp_path):
    refused(tmp_path / "nowhere", "nowhere does not exist", "give an exported folder")
    (copy / "config.json").unlink()
    refused(copy, f"no trained detector at {copy}")


def test_a_config_that_is_not_json_or_not_ours(copy):
    (copy / "config.json").write_text("{not json")
    refused(copy, "config.json is not valid JSON", "aigenbench export")
    (copy / "config.json").write_text(json.dumps({"architectures": ["ViTModel"]}))
    refused(copy, "not an aigenbench detector config")


def test_another_format_version(copy):
    edit_config(copy, lambda c: c.update(format_version=99))
    refused(copy, "format_version 99", "upgrade aigenbench")


def test_missing_or_truncated_weights(copy):
    data = (copy / "model.safetensors").read_bytes()
    (copy / "model.safetensors").write_bytes(data[: len(data) // 2])
    refused(copy, "model.safetensors is not a readable safetensors file")
    (copy / "model.safetensors").unlink()
    refused(copy, "model.safetensors is missing")


def test_a_pickle_is_refused_never_loaded(copy, monkeypatch):
    state = {"head.1.weight": torch.zeros(1, 8)}
    torch.save(state, copy / "model.safetensors")  # a pickle under the safetensors name

    def never(*args, **kwargs):
        raise AssertionError("an exported folder's file was unpickled")

    monkeypatch.setattr(torch, "load", never)
    monkeypatch.setattr("pickle.load", never)
    monkeypatch.setattr("pickle.loads", never)
    refused(copy, "model.safetensors is a zip archive", "never unpickles")
    (copy / "model.safetensors").write_bytes(b"\x80\x04" + b"\x00" * 64)
    refused(copy, "model.safetensors is a pickle")


def test_a_pickle_beside_the_weights_is_refused(copy):
    (copy / "pytorch_model.bin").write_bytes(b"\x80\x04.")
    refused(copy, "pytorch_model.bin is a PyTorch pickle")


def test_weights_of_another_network(copy):
    from safetensors.torch import load_file, save_file

    tensors = load_file(copy / "model.safetensors")
    tensors["extra.weight"] = torch.zeros(2)
    save_file(tensors, copy / "model.safetensors")
    refused(copy, "model.safetensors does not match the detector", "unexpected ['extra.weight']")


def test_a_broken_transform_or_threshold(copy):
    edit_config(copy, lambda c: c["transform"].pop("crop"))
    refused(copy, "transform lacks 'crop'")
    edit_config(copy, lambda c: c["transform"].update(crop="zoom"))
    refused(copy, "config.json", "zoom")
    edit_config(copy, lambda c: c["transform"].update(crop="resize"))
    edit_config(copy, lambda c: c["threshold"].update(default="best_f1"))
    refused(copy, "threshold.default 'best_f1' is not one of its thresholds")


def test_the_cli_says_it_in_one_sentence(copy, images, run_cli):
    edit_config(copy, lambda c: c.update(format_version=99))
    result = run_cli("predict", copy, images[0])
    assert result.exit_code == 2
    assert "format_version 99" in result.err and "Traceback" not in result.err


def test_export_refuses_a_folder_with_other_files_and_an_unknown_threshold(copy, tmp_path, run_cli):
    checkpoint = zoo_checkpoint(tmp_path / "source", "npr")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    result = run_cli("export", checkpoint, "-o", tmp_path / "busy")
    assert result.exit_code == 2 and "already holds other files (notes.txt)" in result.err
    result = run_cli("export", checkpoint, "-o", tmp_path / "new", "--threshold", "best_f")
    assert result.exit_code == 2 and "not a threshold name" in result.err
    assert "best_f1" in result.err.split(".")[1]  # the close name first
    result = run_cli("export", checkpoint, "-o", tmp_path / "new", "--threshold", "fpr_5")
    assert result.exit_code == 2 and "no evaluation of window 0" in result.err
    assert not (tmp_path / "new" / "config.json").exists()


def test_the_transform_in_config_json_is_the_one_applied(copy, images):
    """The pixels and the normalisation come from config.json, not from the weights file."""
    before = aigenbench.load_detector(copy).score(images)
    edit_config(copy, lambda c: c["transform"].update(crop="crop"))
    cropped = aigenbench.load_detector(copy).score(images)
    assert not (cropped == before).all()
    edit_config(copy, lambda c: c["transform"].update(crop="resize", crop_if_larger_than=None))
    uncropped = aigenbench.load_detector(copy).score(images)
    assert (uncropped[:3] == before[:3]).all() and uncropped[3] != before[3]  # the 1200 px one
    edit_config(copy, lambda c: c["transform"].update(crop_if_larger_than=1080))
    edit_config(copy, lambda c: c["transform"]["normalize"]["mean"].__setitem__(0, 0.0))
    assert not (aigenbench.load_detector(copy).score(images) == before).all()


def test_a_pil_image_is_turned_by_its_exif_orientation_like_a_file(exported, tmp_path):
    import numpy as np
    from PIL import Image

    pixels = (np.random.default_rng(1).random((24, 56, 3)) * 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: viewers (and predict) turn it 90 degrees
    path = tmp_path / "sideways.png"
    Image.fromarray(pixels).save(path, exif=exif)
    detector = aigenbench.load_detector(exported)
    from_file = detector.score([path])
    assert detector.score([Image.open(path)]) == from_file
    assert detector.score([pixels]) != from_file  # the orientation mattered
