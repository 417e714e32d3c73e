"""The built-in synthetic benchmark and the ``aigenbench data`` command."""

from __future__ import annotations

import shutil
from collections import Counter

import datasets
import pytest

from aigenbench.data.sources import open_source
from aigenbench.data.synth import (
    GENERATORS,
    POOLS,
    SynthConfig,
    _tile_pools,
    build_synthetic,
    synthetic_timeline,
)
from aigenbench.errors import DataError
from aigenbench.protocol import make_plan, make_windows
from tests.data.conftest import TINY
from tests.data.data_helpers import encode, random_image

OFFICIAL_COLUMNS = {
    "image",
    "height",
    "width",
    "label",
    "generator",
    "file_id",
    "description",
    "positive_prompt",
    "negative_prompt",
    "conditioning",
    "origin_dataset",
    "paired_real_images",
}


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_official_on_disk_format(tiny_synth):
    loaded = datasets.load_from_disk(str(tiny_synth))
    assert set(loaded) == {"train", "validation"}
    for split, per in (
        ("train", TINY.per_generator),
        ("validation", TINY.validation_per_generator),
    ):
        table = loaded[split]
        assert set(table.column_names) == OFFICIAL_COLUMNS
        assert isinstance(table.features["image"], datasets.Image)
        counts = Counter(table["generator"])
        assert counts[""] == per * TINY.generators  # as many reals as fakes
        assert all(counts[g.name] == per for g in GENERATORS[: TINY.generators])
        labels, names = table["label"], table["generator"]
        assert all((label == 0) == (g == "") for label, g in zip(labels, names, strict=True))
        first = table[0]
        assert first["image"].size == (TINY.size, TINY.size)
        assert first["height"] == first["width"] == TINY.size
    formats = Counter(
        bytes(
            loaded["train"].cast_column("image", datasets.Image(decode=False))[i]["image"]["bytes"][
                :2
            ]
        )
        for i in range(len(loaded["train"]))
    )
    assert set(formats) == {b"\x89P", b"\xff\xd8"}  # a PNG / JPEG mix


def test_timeline_and_windows(tiny_synth):
    timeline = synthetic_timeline()
    assert len(GENERATORS) >= 12 and len(timeline) == len(GENERATORS)
    assert len({g.release_date for g in GENERATORS}) == len(GENERATORS)
    assert len(make_windows(timeline, timeline, 4)) == 4
    families = [g.family for g in GENERATORS]
    assert families[0] != families[-1]  # the kind of generator changes over time
    source = open_source(tiny_synth)
    assert list(source.timeline) == [g.name for g in GENERATORS[: TINY.generators]]
    plan = make_plan(
        source.generators("train"), source.generators("validation"), None, source.timeline
    )
    assert plan.n_windows == 2 and plan.windows[0] == [g.name for g in GENERATORS[:4]]


def test_real_and_fake_images_come_from_disjoint_parts_of_the_photos():
    pools = _tile_pools(TINY.size, TINY.seed)
    assert len(pools) == len(POOLS) and all(pools)
    for a in range(len(pools)):
        for b in range(a + 1, len(pools)):
            for tile in pools[a]:
                for other in pools[b]:
                    if tile.photo == other.photo:
                        overlap_rows = abs(tile.top - other.top) < tile.side
                        overlap_cols = abs(tile.left - other.left) < tile.side
                        assert not (overlap_rows and overlap_cols)
    real_photos = {tile.photo for tile in pools[POOLS.index("real_train")]}
    fake_photos = {tile.photo for tile in pools[POOLS.index("fake_train")]}
    assert len(real_photos & fake_photos) >= 10  # the same photographs feed both classes


def test_same_seed_same_bytes_and_cache(tmp_path, tiny_synth):
    again = tmp_path / "again"
    assert build_synthetic(again, TINY) is True
    assert _files(again) == _files(tiny_synth)
    assert build_synthetic(again, TINY) is False  # cached: the fingerprint matches
    other = SynthConfig(**{**TINY.__dict__, "seed": TINY.seed + 1})
    assert build_synthetic(again, other) is True  # different parameters: rebuilt in place
    assert _files(again) != _files(tiny_synth)
    assert '"seed": 4' in (again / "synth.json").read_text()


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep me")
    with pytest.raises(DataError, match="not a synthetic benchmark"):
        build_synthetic(tmp_path / "mine", TINY)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "keep me"


def test_cli_synth_then_check_is_clean(tmp_path, run_cli):
    out = tmp_path / "s"
    args = ["--size", "24", "--per_generator", "3", "--validation_per_generator", "2"]
    result = run_cli("data", "synth", out, *args, "--generators", "4")
    assert result.exit_code == 0, result.err
    assert "built" in result.out and (out / "timeline.csv").is_file()
    result = run_cli("data", "synth", out, *args, "--generators", "4")
    assert result.exit_code == 0 and "reused" in result.out
    result = run_cli("data", "check", out, "--workers", "2")
    assert result.exit_code == 0, result.out + result.err
    assert "clean" in result.out


def test_cli_check_names_a_planted_corrupt_file(tmp_path, tiny_synth, run_cli):
    # An image-folder copy of the benchmark with one truncated JPEG and one empty file.
    source = open_source(tiny_synth)
    root = tmp_path / "copy"
    for split in ("train", "validation"):
        for row_id, generator in enumerate(source.generators(split)[:12]):
            folder = root / split / (generator or "real")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{row_id:03d}.png").write_bytes(source.read(split, row_id))
    shutil.copy(tiny_synth / "timeline.csv", root / "timeline.csv")
    assert run_cli("data", "check", root, "--workers", "1").exit_code == 0
    victim = next((root / "train").rglob("*.png"))
    jpeg = encode(random_image(40, 40), "JPEG", quality=90)
    victim.write_bytes(jpeg[: len(jpeg) // 2])
    empty = next((root / "validation" / "real").rglob("*.png"))
    empty.write_bytes(b"")
    result = run_cli("data", "check", root, "--workers", "2")
    assert result.exit_code == 1
    assert str(victim) in result.out and "truncated" in result.out
    assert str(empty) in result.out and "empty" in result.out
    assert "2 unreadable" in result.out


def test_cli_check_lists_generators_missing_from_the_timeline(tiny_synth, tmp_path, run_cli):
    timeline = tmp_path / "short.csv"
    timeline.write_text("generator,release_date\nDeconvGAN,2017-02-10\n")
    result = run_cli("data", "check", tiny_synth, "--timeline", timeline, "--workers", "1")
    assert result.exit_code == 1
    assert "'PatchSynth'" in result.out and "not in the timeline" in result.out
    assert "'DeconvGAN'" not in result.out.split("not in the timeline")[1]


def test_cli_errors_are_clear(tmp_path, run_cli):
    result = run_cli("data", "check", tmp_path / "nowhere")
    assert result.exit_code == 2 and "does not exist" in result.err
    assert run_cli("data").exit_code == 2
