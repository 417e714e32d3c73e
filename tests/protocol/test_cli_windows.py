"""``aigenbench windows`` and the CLI's handling of bad input."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.protocol.test_timeline_windows import V1_WINDOWS


def test_windows_prints_the_nine_windows(run_cli):
    result = run_cli("windows")
    assert result.exit_code == 0
    assert "36 generators, 9 windows" in result.out
    blocks = result.out.split("\nwindow ")[1:]
    assert len(blocks) == 9
    for block, expected in zip(blocks, V1_WINDOWS, strict=True):
        names = [line.split("  ", 2)[-1].strip() for line in block.splitlines()[1:] if line]
        assert names == expected


def test_windows_json_schema(run_cli):
    result = run_cli("windows", "--json")
    data = json.loads(result.out)
    assert list(data) == ["windows"]
    assert [[entry["generator"] for entry in window] for window in data["windows"]] == V1_WINDOWS
    assert data["windows"][0][0] == {"generator": "CycleGAN", "release_date": "2017-03-30"}


def test_windows_with_a_user_timeline_and_per_window(run_cli, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("generator,release_date\nOld,2019-01-01\nNew,2021-01-01\nTwin,2021-01-01\n")
    result = run_cli("windows", "--timeline", path, "--per_window", "1", "--json")
    windows = json.loads(result.out)["windows"]
    assert [[e["generator"] for e in w] for w in windows] == [["Old"], ["New", "Twin"]]


def test_export_timeline_writes_an_editable_csv(run_cli, tmp_path):
    out = tmp_path / "mine.csv"
    assert run_cli("windows", "--export_timeline", out).exit_code == 0
    assert out.read_text().splitlines()[:2] == ["generator,release_date", "CycleGAN,2017-03-30"]
    assert run_cli("windows", "--timeline", out, "--json").exit_code == 0


def test_per_window_zero_is_a_clear_error_exit_2(run_cli):
    result = run_cli("windows", "--per_window", "0")
    assert result.exit_code == 2
    assert "--per_window: must be a whole number >= 1, got 0" in result.err
    assert "Traceback" not in result.err


def test_bad_timeline_csv_names_the_file_and_line(run_cli, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("A,2020-01-01\nB,01/02/2020\n")
    result = run_cli("windows", "--timeline", path)
    assert result.exit_code == 2
    assert f"{path}:2: bad release date '01/02/2020'" in result.err


def test_unknown_command_suggests_close_ones(run_cli):
    result = run_cli("window")
    assert result.exit_code == 2
    assert "windows" in result.err


def test_console_script_runs_and_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "dup.csv"
    bad.write_text("A,2020-01-01\nA,2020-01-02\n")
    done = subprocess.run(
        [sys.executable, "-m", "aigenbench.cli", "windows", "--timeline", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "duplicate generator 'A'" in done.stderr
    assert "Traceback" not in done.stderr


def test_protocol_imports_without_torch():
    code = (
        "import sys, aigenbench.protocol, aigenbench.cli; "
        "from aigenbench.cli import main; main(['windows', '--json']); "
        "assert 'torch' not in sys.modules, 'protocol pulled in torch'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_a_header_with_other_column_names_is_not_read_as_a_generator(run_cli, tmp_path):
    path = tmp_path / "dated.csv"
    path.write_text("generator,date\nA,2020-01-01\nB,2021-01-01\n")
    result = run_cli("windows", "--timeline", path)
    assert result.exit_code == 2
    assert f"{path}:1: 'generator,date' looks like a header" in result.err
    assert "generator,release_date" in result.err


def test_a_protocol_config_sets_the_windows_and_the_command_line_overrides_it(run_cli, tmp_path):
    """``windows --config protocol/...`` shows that protocol's windows (it refused the config's
    first key before); ``--per_window`` after it still wins, as every command line does."""
    shipped = run_cli("windows", "--config", "protocol/sliding_windows", "--json")
    assert shipped.exit_code == 0, shipped.out
    assert [len(w) for w in json.loads(shipped.out)["windows"]] == [len(w) for w in V1_WINDOWS]

    mine = tmp_path / "six.yaml"
    mine.write_text("protocol:\n  generators_per_window: 6\n  benchmark_type: cumulative\n")
    six = run_cli("windows", "--config", mine, "--json")
    assert six.exit_code == 0, six.out
    assert len(json.loads(six.out)["windows"]) == 6  # 36 generators, 6 per window
    overridden = run_cli("windows", "--config", mine, "--per_window", "12", "--json")
    assert len(json.loads(overridden.out)["windows"]) == 3


def test_a_fit_config_without_a_protocol_is_named_with_the_fix(run_cli):
    result = run_cli("windows", "--config", "models/clip_rn50_probe_crop")
    assert result.exit_code == 2
    message = result.out + result.err
    assert "sets no protocol" in message and "--config protocol/sliding_windows" in message
