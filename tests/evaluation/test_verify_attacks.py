"""``aigenbench verify`` against a forger who has the dataset and rebuilds the bundle after
each edit (so every SHA-256 and every manifest number is consistent with the forged files).

Each attack is caught by the check named in the test; a bundle that cannot be checked
completely is never "verified"; a malformed bundle is one clear error naming the file.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.evaluation.test_bundle import _checks, _rewrite, dataset, write_run

__all__ = ["dataset"]  # the module-scoped synthetic benchmark of test_bundle


def _edit_npz(path: Path, change: Callable[[dict[str, np.ndarray]], None]) -> None:
    with np.load(path) as data:
        arrays = dict(data)
    change(arrays)
    np.savez(path, **arrays)


# What names the evaluation set: equal in every window's file of an honest run.
_SET_KEYS = (
    "crop_generator_ids",
    "fused_generator_ids",
    "crop_identifiers",
    "fused_identifiers",
    "identifier",
    "pairing",
    "generator_id_to_name",
    "crop_labels",
    "fused_labels",
)


def _forge_every_window(run: Path, window: int, change: Callable[[dict[str, np.ndarray]], None]):
    """``change`` on window ``window``'s file, and its edits of the evaluation set carried to
    every other window's file: a careful forger keeps the windows consistent (``bundle`` and
    ``evaluate`` refuse steps scored on different evaluation sets)."""
    files = sorted(run.glob("window_*/predictions_validate.npz"))
    _edit_npz(run / f"window_{window}" / "predictions_validate.npz", change)
    with np.load(run / f"window_{window}" / "predictions_validate.npz") as data:
        forged = {key: data[key] for key in _SET_KEYS if key in data}

    def carry(arrays: dict[str, np.ndarray]) -> None:
        arrays.update({key: value.copy() for key, value in forged.items()})

    for path in files:
        if path.parent.name != f"window_{window}":
            _edit_npz(path, carry)


def _bundle(run_cli, run: Path, out: Path) -> Path:
    made = run_cli("bundle", run, "-o", out)
    assert made.exit_code == 0, made.err
    return out


@pytest.fixture
def run(dataset, tmp_path) -> Path:
    path = tmp_path / "run"
    write_run(path, dataset)
    return path


def _fake_rows(arrays: dict[str, np.ndarray]) -> tuple[int, int]:
    """Image positions of a low-scoring fake and a high-scoring fake of another generator."""
    generators = arrays["fused_generator_ids"]
    scores = arrays["fused_scores"]
    fakes = np.flatnonzero(generators != 0)
    low = fakes[np.argmin(scores[fakes])]
    others = fakes[generators[fakes] != generators[low]]
    return int(low), int(others[np.argmax(scores[others])])


def test_swapped_generator_ids_with_counts_kept_fail_with_the_dataset(run_cli, run, tmp_path):
    """The forger swaps the generator ids (crop and fused keys alike) of two fakes: the counts
    per generator, the pairing and every internal consistency hold; only the dataset knows."""

    def swap(arrays):
        a, b = _fake_rows(arrays)
        fused = arrays["fused_generator_ids"]
        fused[a], fused[b] = fused[b], fused[a]
        crops = arrays["crop_generator_ids"]
        ids = arrays["crop_identifiers"]
        id_a, id_b = arrays["fused_identifiers"][a], arrays["fused_identifiers"][b]
        gen_a, gen_b = crops[ids == id_a][0], crops[ids == id_b][0]
        crops[ids == id_a], crops[ids == id_b] = gen_b, gen_a

    _forge_every_window(run, 0, swap)
    bundle = _bundle(run_cli, run, tmp_path / "b.zip")
    checks = _checks(run_cli, bundle)
    assert checks["dataset rows"]["status"] == "fail"
    assert "window 0: the generator or label of 2 row(s)" in checks["dataset rows"]["detail"]
    assert checks["predictions files"]["status"] == "pass"  # consistent forgery
    assert checks["evaluation set"]["status"] == "pass"  # counts kept


def test_a_window_with_another_windows_predictions_fails(run_cli, run, tmp_path):
    shutil.copy(
        run / "window_1" / "predictions_validate.npz", run / "window_0" / "predictions_validate.npz"
    )
    checks = _checks(run_cli, _bundle(run_cli, run, tmp_path / "b.zip"))
    assert checks["windows"]["status"] == "fail"
    assert "windows 0 and 1 hold the same scores" in checks["windows"]["detail"]


def test_swapped_memberships_fail(run_cli, run, tmp_path):
    first, second = run / "window_0" / "membership.json", run / "window_1" / "membership.json"
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)
    checks = _checks(run_cli, _bundle(run_cli, run, tmp_path / "b.zip"))
    assert checks["windows"]["status"] == "fail"
    assert "window 0: its membership.json is window 1's" in checks["windows"]["detail"]


def test_a_manifest_that_maps_a_window_to_another_file_fails(run_cli, run, tmp_path):
    bundle = _bundle(run_cli, run, tmp_path / "b.zip")

    def point_elsewhere(data: bytes) -> bytes:
        manifest = json.loads(data)
        manifest["windows"]["0"]["predictions"] = "window_1/predictions_validate.npz"
        return json.dumps(manifest).encode()

    _rewrite(bundle, "manifest.json", point_elsewhere)
    checks = _checks(run_cli, bundle)
    assert checks["windows"]["status"] == "fail"
    assert "window 0: its predictions are not the manifest's" in checks["windows"]["detail"]


def test_crop_generator_ids_edited_while_fused_left_alone_fail(run_cli, run, dataset, tmp_path):
    """The metrics read the crop keys; the forger edits those only."""

    def edit_crops(arrays):
        a, b = _fake_rows(arrays)
        crops, ids = arrays["crop_generator_ids"], arrays["crop_identifiers"]
        crops[ids == arrays["fused_identifiers"][a]] = arrays["fused_generator_ids"][b]

    _forge_every_window(run, 1, edit_crops)
    bundle = _bundle(run_cli, run, tmp_path / "b.zip")
    checks = _checks(run_cli, bundle)
    assert checks["predictions files"]["status"] == "fail"
    assert (
        "window 1: fused_generator_ids is not the per-image value of the crop keys"
        in checks["predictions files"]["detail"]
    )
    assert checks["dataset rows"]["status"] == "fail"


@pytest.mark.parametrize(
    ("change", "wrong"),
    [
        (lambda a: a.update(crop_scores=np.stack([a["crop_scores"]] * 3, axis=1)), "shape"),
        (lambda a: a.update(crop_scores=(a["crop_scores"] > 0.5).astype(np.int64)), "not floating"),
        (lambda a: a.update(crop_labels=np.zeros_like(a["crop_labels"])), "crop_labels are not"),
        (lambda a: a.update(fused_scores=a["fused_scores"][::-1].copy()), "fused_scores are not"),
    ],
)
def test_keys_that_feed_a_metric_are_checked(run_cli, run, tmp_path, change, wrong):
    """The forged file goes straight into the zip (a forger needs no bundler of ours)."""
    bundle = _bundle(run_cli, run, tmp_path / "b.zip")
    path = run / "window_0" / "predictions_validate.npz"
    _edit_npz(path, change)
    _replace(bundle, "window_0/predictions_validate.npz", path.read_bytes())
    checks = _checks(run_cli, bundle)
    assert checks["predictions files"]["status"] == "fail"
    assert "window 0:" in checks["predictions files"]["detail"]
    # here the raw-key check names it; a predictions reader that refuses it first is also a fail
    assert (
        wrong in checks["predictions files"]["detail"]
        or "in the bundle: predictions file" in (checks["predictions files"]["detail"])
    )


def test_a_real_paired_to_another_generator_with_counts_kept_fails(run_cli, run, tmp_path):
    """Two reals exchange their paired generators: every generator keeps as many paired reals
    as fakes, so only the comparison with the protocol's pairing catches it."""

    def swap_pairing(arrays):
        pairing = arrays["pairing"]
        reals = np.flatnonzero(pairing > 0)
        a = reals[0]
        b = reals[pairing[reals] != pairing[a]][0]
        pairing[a], pairing[b] = pairing[b], pairing[a]

    _forge_every_window(run, 0, swap_pairing)
    checks = _checks(run_cli, _bundle(run_cli, run, tmp_path / "b.zip"))
    assert checks["evaluation set"]["status"] == "pass"
    assert checks["dataset rows"]["status"] == "fail"
    assert (
        "window 0: reals are not paired as the protocol pairs them"
        in (checks["dataset rows"]["detail"])
    )


def test_a_membership_with_other_generators_but_the_right_rows_fails(run_cli, run, tmp_path):
    path = run / "window_1" / "membership.json"
    membership = json.loads(path.read_text())
    membership["generators"] = membership["generators"][::-1]
    path.write_text(json.dumps(membership))
    checks = _checks(run_cli, _bundle(run_cli, run, tmp_path / "b.zip"))
    assert checks["training membership"]["status"] == "fail"
    assert checks["training membership"]["detail"] == (
        "window 1: trained on other generators than the plan's"
    )


def test_a_file_not_in_the_manifest_fails(run_cli, run, tmp_path):
    bundle = _bundle(run_cli, run, tmp_path / "b.zip")
    with zipfile.ZipFile(bundle, "a") as archive:
        archive.writestr("window_0/extra_scores.npz", b"anything")
    checks = _checks(run_cli, bundle)
    assert checks["hashes"]["status"] == "fail"
    assert checks["hashes"]["detail"] == "window_0/extra_scores.npz is not in the manifest"


def test_a_number_off_by_a_ten_thousandth_fails(run_cli, run, tmp_path):
    bundle = _bundle(run_cli, run, tmp_path / "b.zip")

    def nudge(data: bytes) -> bytes:
        manifest = json.loads(data)
        manifest["metrics"]["average"]["whole"]["auroc"] += 1e-4
        return json.dumps(manifest).encode()

    _rewrite(bundle, "manifest.json", nudge)
    checks = _checks(run_cli, bundle)
    assert checks["numbers"]["status"] == "fail"
    assert "average.whole.auroc" in checks["numbers"]["detail"]


# ----------------------------------------------------------------------- checks that cannot run


def test_a_missing_dataset_is_incomplete_not_verified(run_cli, run, tmp_path):
    bundle = _bundle(run_cli, run, tmp_path / "b.zip")
    result = run_cli("verify", bundle, "--dataset", tmp_path / "nonexistent")
    assert result.exit_code == 3
    assert "incomplete: not verified" in result.out
    assert "dataset rows, training membership" in result.out
    data = json.loads(run_cli("verify", bundle, "--dataset", tmp_path / "no", "--json").out)
    assert data["verdict"] == "incomplete" and not data["ok"]
    assert data["not_run"] == ["dataset rows", "training membership"]


def test_a_config_without_data_source_is_incomplete(run_cli, run, tmp_path):
    config = yaml.safe_load((run / "config.yaml").read_text())
    del config["data"]["source"]
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_cli("verify", _bundle(run_cli, run, tmp_path / "b.zip"))
    assert result.exit_code == 3
    assert "[n/a ] dataset rows: could not run: no dataset" in result.out


def test_a_bundle_without_config_is_incomplete(run_cli, run, dataset, tmp_path):
    (run / "config.yaml").unlink()
    bundle = _bundle(run_cli, run, tmp_path / "b.zip")
    checks = _checks(run_cli, bundle, "--dataset", dataset)
    assert checks["degradations"]["status"] == "skip"
    assert run_cli("verify", bundle, "--dataset", dataset).exit_code == 3


def test_a_forgery_without_the_dataset_is_still_not_verified(run_cli, run, tmp_path):
    shutil.copy(
        run / "window_1" / "predictions_validate.npz", run / "window_0" / "predictions_validate.npz"
    )
    bundle = _bundle(run_cli, run, tmp_path / "b.zip")
    assert run_cli("verify", bundle, "--dataset", tmp_path / "none").exit_code == 1


def test_rescore_without_weights_is_incomplete(run_cli, run, tmp_path):
    bundle = _bundle(run_cli, run, tmp_path / "b.zip")
    checks = _checks(run_cli, bundle, "--rescore", "4")
    assert checks["rescore"]["status"] == "skip"
    assert "--weights" in checks["rescore"]["detail"]


# ------------------------------------------------------------------------ untrusted input


def _zip(path: Path, members: dict[str, bytes], level: int = 9) -> Path:
    with zipfile.ZipFile(
        path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level
    ) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _error(run_cli, bundle: Path, *extra) -> str:
    result = run_cli("verify", bundle, *extra)
    assert result.exit_code == 2, result.out
    assert "Traceback" not in result.err
    return result.err


def test_a_zip_bomb_is_refused_before_anything_is_extracted(run_cli, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    written: list[str] = []
    real_open = open

    def spy(file, mode="r", *args, **kwargs):
        if "x" in str(mode) or "w" in str(mode):
            written.append(str(file))
        return real_open(file, mode, *args, **kwargs)

    bomb = _zip(
        tmp_path / "bomb.zip", {"manifest.json": b"{}", "weights.safetensors": bytes(64 << 20)}
    )
    assert bomb.stat().st_size < 200_000
    monkeypatch.setattr("builtins.open", spy)
    error = _error(run_cli, bomb)
    monkeypatch.undo()
    assert "weights.safetensors would expand" in error and "nothing was extracted" in error
    assert not [name for name in written if name.startswith(str(scratch))]


def test_total_size_and_member_count_are_limited(run_cli, run, tmp_path):
    bundle = _bundle(run_cli, run, tmp_path / "b.zip")
    error = _error(run_cli, bundle, "--max-gib", str(10240 / (1 << 30)))
    assert "more than the 10240 bytes verify accepts" in error and "nothing was extracted" in error
    many = _zip(tmp_path / "many.zip", {f"f{i}.json": b"" for i in range(10_001)}, level=1)
    assert "holds 10001 files" in _error(run_cli, many)


@pytest.mark.parametrize(
    ("name", "why"),
    [("../escape.json", "unsafe path"), ("/abs.json", "unsafe path")],
)
def test_unsafe_member_names_are_refused(run_cli, tmp_path, name, why):
    bundle = _zip(tmp_path / "b.zip", {"manifest.json": b"{}", name: b"{}"})
    assert why in _error(run_cli, bundle)


def test_a_symbolic_link_is_refused(run_cli, tmp_path):
    info = zipfile.ZipInfo("window_0/membership.json")
    info.external_attr = 0o120777 << 16  # a symlink to /etc/passwd
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as archive:
        archive.writestr("manifest.json", b"{}")
        archive.writestr(info, "/etc/passwd")
    assert "symbolic link" in _error(run_cli, tmp_path / "b.zip")


def _replace(bundle: Path, name: str, data: bytes) -> Path:
    _rewrite(bundle, name, lambda _: data)
    return bundle


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("config.yaml", b"- a\n- b\n", "config.yaml in the bundle is a YAML list, not a mapping"),
        ("config.yaml", b"protocol:\n  generator_per_window: 4\n", "unknown key"),
        ("config.yaml", b"data: 5\n", "config.yaml in the bundle: 'data:' is a int"),
        ("config.yaml", b"a: [\n", "config.yaml in the bundle is not valid YAML"),
        ("manifest.json", b"[1, 2]", "manifest.json in the bundle is a JSON list"),
        ("manifest.json", b"{", "manifest.json in the bundle is not valid JSON"),
        ("window_0/membership.json", b"[]", "window_0/membership.json in the bundle is a JSON"),
        ("summary.json", b"[]", "summary.json in the bundle is a JSON list"),
    ],
)
def test_malformed_files_are_one_clear_error_naming_the_file(
    run_cli, run, tmp_path, name, content, message
):
    (run / "summary.json").write_text("{}")
    bundle = _replace(_bundle(run_cli, run, tmp_path / "b.zip"), name, content)
    error = _error(run_cli, bundle)
    assert message in error
    assert str(tmp_path) not in error.replace(str(bundle), "")  # names the member, no scratch path


def test_the_unknown_protocol_key_is_named_with_a_suggestion(run_cli, run, tmp_path):
    bundle = _bundle(run_cli, run, tmp_path / "b.zip")
    _replace(bundle, "config.yaml", b"protocol:\n  generator_per_window: 4\n")
    error = _error(run_cli, bundle)
    assert "unknown key 'generator_per_window' under protocol:" in error
    assert "Did you mean: generators_per_window?" in error


def test_a_pickled_array_in_a_bundle_is_never_unpickled(run_cli, run, tmp_path):
    """An object array (a pickle that would run code) in place of crop_scores is refused."""

    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    path = run / "window_0" / "predictions_validate.npz"
    with np.load(path) as data:
        arrays = dict(data)
    arrays["crop_scores"] = np.array([Boom()] * len(arrays["crop_scores"]), dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    bundle = _bundle(run_cli, run, tmp_path / "b.zip")  # the pickle goes straight into the zip
    _replace(bundle, "window_0/predictions_validate.npz", buffer.getvalue())
    checks = _checks(run_cli, bundle)
    assert "pwned" not in json.dumps(checks)
    assert checks["predictions files"]["status"] == "fail"
    assert "window_0/predictions_validate.npz" in checks["predictions files"]["detail"]


def test_an_unreadable_predictions_file_fails_its_check_and_the_others_still_run(
    run_cli, run, tmp_path
):
    bundle = _replace(
        _bundle(run_cli, run, tmp_path / "b.zip"), "window_0/predictions_validate.npz", b"junk"
    )
    checks = _checks(run_cli, bundle)
    detail = checks["predictions files"]["detail"]
    assert checks["predictions files"]["status"] == "fail"
    assert "window 0: in the bundle: predictions file window_0/predictions_validate.npz" in detail
    assert str(tmp_path) not in detail  # the member, not the scratch folder
    assert "unreadable predictions for window(s) [0]" in checks["windows"]["detail"]
    assert checks["training membership"]["status"] == "pass"


def _replay(run: Path, dataset: Path, rows: Callable[[list[int], list[int]], list[int]]) -> None:
    """Window 1 of a continual_learning run trains on its own rows plus ``rows(window 0's rows,
    window 1's rows)`` replayed, as the replay strategy writes its membership."""
    from aigenbench.data.sources import open_source
    from aigenbench.protocol import ProtocolConfig, make_plan

    config = yaml.safe_load((run / "config.yaml").read_text())
    config["protocol"]["benchmark_type"] = "continual_learning"
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    source = open_source(dataset)
    plan = make_plan(
        source.generators("train"),
        source.generators("validation"),
        ProtocolConfig(**config["protocol"]),
        source.timeline,
    )
    for window in (0, 1):
        path = run / f"window_{window}" / "membership.json"
        membership = json.loads(path.read_text())
        membership["train_ids"] = plan.training_ids(window)
        if window == 1:
            replayed = rows(plan.training_ids(0), plan.training_ids(1))
            membership["train_ids"] += replayed
            membership["replayed_ids"] = replayed
        path.write_text(json.dumps(membership))


def test_replayed_rows_of_earlier_windows_verify(run_cli, run, dataset, tmp_path):
    _replay(run, dataset, lambda earlier, own: earlier[:5])
    checks = _checks(run_cli, _bundle(run_cli, run, tmp_path / "b.zip"))
    assert checks["training membership"]["status"] == "pass"


def test_replayed_rows_that_no_earlier_window_trained_on_fail(run_cli, run, dataset, tmp_path):
    _replay(run, dataset, lambda earlier, own: [*earlier[:2], 99_999])
    checks = _checks(run_cli, _bundle(run_cli, run, tmp_path / "b.zip"))
    assert checks["training membership"]["status"] == "fail"
    assert (
        "window 1: 1 replayed row(s) are not training rows of an earlier window"
        in (checks["training membership"]["detail"])
    )


def test_the_console_script_exits_with_the_verdict(run_cli, run, tmp_path):
    """``aigenbench verify`` as a user runs it, from a fresh folder: 3 when incomplete."""
    import subprocess
    import sys

    bundle = _bundle(run_cli, run, tmp_path / "b.zip")
    script = Path(sys.executable).parent / "aigenbench"
    folder = tmp_path / "fresh"
    folder.mkdir()
    result = subprocess.run(
        [str(script), "verify", str(bundle), "--dataset", str(tmp_path / "none")],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "incomplete: not verified" in result.stdout


def test_a_timeline_that_is_not_a_file_here_is_incomplete(run_cli, run, tmp_path):
    """The bundle names a path on the verifier's machine: a device that never ends is not read."""
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["protocol"]["timeline"] = "/dev/zero"
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    checks = _checks(run_cli, _bundle(run_cli, run, tmp_path / "b.zip"))
    assert checks["dataset rows"]["status"] == "skip"
    assert "protocol.timeline /dev/zero is not a file here" in checks["dataset rows"]["detail"]


def test_crop_identifiers_edited_while_fused_left_alone_fail(run_cli, run, tmp_path):
    def edit(arrays):
        ids = arrays["crop_identifiers"]
        ids[ids == arrays["fused_identifiers"][0]] = 99_999
        arrays["identifier"][0] = 99_999  # the reader checks 'identifier' against the crops

    _forge_every_window(run, 0, edit)
    checks = _checks(run_cli, _bundle(run_cli, run, tmp_path / "b.zip"))
    assert checks["predictions files"]["status"] == "fail"
    assert "fused_identifiers is not the per-image value" in checks["predictions files"]["detail"]
    assert checks["dataset rows"]["status"] == "fail"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--rescore", "-1"), "--rescore -1: give a number"),
        (("--rescore", "2", "--seed", "-1"), "--seed -1: give a seed of 0 or more"),
        (("--max-gib", "0"), "--max-gib 0.0: give a positive size"),
    ],
)
def test_bad_verify_arguments_are_one_sentence(run_cli, run, tmp_path, flags, message):
    bundle = _bundle(run_cli, run, tmp_path / "b.zip")
    assert message in _error(run_cli, bundle, *flags)


def test_a_member_larger_than_its_zip_entry_declares_is_refused(run_cli, tmp_path):
    """The limits read the declared sizes: a member whose entry understates its size (central
    directory and local header both forged) must not inflate past it on disk."""
    import struct

    data = np.random.default_rng(0).bytes(2 << 20)  # incompressible: the ratio check passes
    bundle = _zip(tmp_path / "b.zip", {"manifest.json": b"{}", "window_0/big.npz": data})
    raw = bytearray(bundle.read_bytes())
    declared = struct.pack("<I", 1 << 20)
    name = b"window_0/big.npz"
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := raw.find(signature, start)) != -1:
            header_name = 46 if signature == b"PK\x01\x02" else 30
            if raw[start + header_name : start + header_name + len(name)] == name:
                raw[start + offset : start + offset + 4] = declared
            start += 4
    bundle.write_bytes(bytes(raw))
    with zipfile.ZipFile(bundle) as archive:
        assert archive.getinfo("window_0/big.npz").file_size == 1 << 20
    error = _error(run_cli, bundle)
    assert "corrupt" in error and "big.npz" in error


def test_renamed_generators_fail_with_the_dataset(run_cli, run, tmp_path):
    """Two names of generator_id_to_name exchanged: every id stays, but the windows (by name)
    now pick other images for Next / Past."""

    def rename(arrays):
        names = arrays["generator_id_to_name"]
        names[[1, -1]] = names[[-1, 1]]

    _forge_every_window(run, 0, rename)
    checks = _checks(run_cli, _bundle(run_cli, run, tmp_path / "b.zip"))
    assert checks["dataset rows"]["status"] == "fail"
    assert (
        "window 0: generator_id_to_name is not the dataset's generator names"
        in (checks["dataset rows"]["detail"])
    )


def test_the_rescore_draw_depends_on_seed_and_window_only():
    from aigenbench.evaluation.rescore import draw

    ids = np.arange(1000, 1200)
    first = draw(ids, 16, 7, 0)
    assert np.array_equal(first, draw(ids[::-1].copy(), 16, 7, 0))  # not on the file's order
    assert len(np.unique(first)) == 16 and set(first) <= set(ids)
    assert not np.array_equal(first, draw(ids, 16, 7, 1))
    assert not np.array_equal(first, draw(ids, 16, 8, 0))
    assert len(draw(ids, 10_000, 7, 0)) == len(ids)
