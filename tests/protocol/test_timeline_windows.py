"""Timeline and windows: PROTOCOL.md §1 and §3, with worked examples."""

from __future__ import annotations

import datetime as dt

import pytest

from aigenbench.errors import ProtocolError
from aigenbench.protocol import Timeline, generator_id_to_name, make_windows

V1_WINDOWS = [
    ["CycleGAN", "Cascaded Refinement Networks", "ProGAN", "StarGAN"],
    ["SN-PatchGAN", "BigGAN", "IMLE", "StyleGAN1"],
    ["GauGAN", "StyleGAN2", "DDPM", "CIPS"],
    ["VQGAN", "GANformer", "ADM", "StyleGAN3"],
    ["LaMa", "FaceSynthetics", "ProjectedGAN", "Palette"],
    ["VQ-Diffusion", "Denoising Diffusion GAN", "Glide", "Latent Diffusion"],
    ["Midjourney", "MAT", "Diffusion GAN (ProjectedGAN)", "Diffusion GAN (StyleGAN2)"],
    ["Stable Diffusion 1.4", "Stable Diffusion 1.5", "Stable Diffusion 2.1", "DeepFloyd IF"],
    ["Stable Diffusion XL 1.0", "DALL-E 3", "FLUX 1 Dev", "FLUX 1 Schnell"],
]


def timeline_of(**dates: str) -> Timeline:
    return Timeline({name: dt.date.fromisoformat(d) for name, d in dates.items()}, source="test")


def test_builtin_timeline_has_the_36_generators_with_their_dates():
    timeline = Timeline.builtin()
    assert len(timeline) == 36
    assert timeline["CycleGAN"] == dt.date(2017, 3, 30)
    assert timeline["Diffusion GAN (StyleGAN2)"] == dt.date(2022, 6, 6)
    assert timeline["FLUX 1 Schnell"] == dt.date(2024, 8, 2)


def test_builtin_timeline_gives_the_nine_windows_of_the_protocol():
    timeline = Timeline.builtin()
    assert make_windows(timeline, timeline, 4, "cumulative") == V1_WINDOWS


def test_windows_do_not_depend_on_the_order_generators_are_given_in():
    timeline = Timeline.builtin()
    shuffled = sorted(timeline, key=lambda name: name[::-1])
    assert make_windows(shuffled, timeline, 4) == V1_WINDOWS


def test_same_date_generators_join_the_window_of_the_first_one():
    timeline = timeline_of(
        A="2020-01-01", B="2020-01-02", C="2020-01-02", D="2020-01-03", E="2020-01-04"
    )
    # n=2: A, then B; C has B's date so it joins: the window holds 3.
    assert make_windows("ABCDE", timeline, 2) == [["A", "B", "C"], ["D", "E"]]
    # n=1: B and C still share a window.
    assert make_windows("ABCDE", timeline, 1) == [["A"], ["B", "C"], ["D"], ["E"]]


def test_same_date_tie_keeps_the_timeline_order():
    timeline = timeline_of(Z="2020-01-01", Y="2020-01-01", X="2020-01-02")
    assert make_windows("XYZ", timeline, 1) == [["Z", "Y"], ["X"]]


def test_last_window_may_be_short():
    timeline = timeline_of(A="2020-01-01", B="2020-01-02", C="2020-01-03")
    assert make_windows("ABC", timeline, 2) == [["A", "B"], ["C"]]


def test_cumulative_and_continual_have_the_same_windows_and_none_has_one():
    timeline = timeline_of(A="2020-01-01", B="2020-01-02", C="2020-01-03")
    assert make_windows("CAB", timeline, 2, "continual_learning") == [["A", "B"], ["C"]]
    assert make_windows("CAB", timeline, 2, "none") == [["A", "B", "C"]]


def test_real_images_are_not_a_window_member():
    timeline = timeline_of(A="2020-01-01")
    assert make_windows(["", "A", ""], timeline, 4) == [["A"]]


@pytest.mark.parametrize("per_window", [0, -1, 1.5, True])
def test_bad_generators_per_window_is_an_error(per_window):
    timeline = timeline_of(A="2020-01-01")
    with pytest.raises(ProtocolError, match="per window"):
        make_windows("A", timeline, per_window)


def test_unknown_benchmark_type_is_an_error():
    with pytest.raises(ProtocolError, match="cumulative, continual_learning, none"):
        make_windows("A", timeline_of(A="2020-01-01"), 4, "sliding")  # type: ignore[arg-type]


def test_generator_missing_from_the_timeline_is_named_with_the_fix():
    with pytest.raises(ProtocolError) as raised:
        make_windows(["A", "Mystery GAN"], timeline_of(A="2020-01-01"), 4)
    message = str(raised.value)
    assert "'Mystery GAN'" in message
    assert "Mystery GAN,YYYY-MM-DD" in message
    assert "--timeline" in message


def test_generator_ids_are_sorted_names_with_real_first():
    assert generator_id_to_name(["B", "", "A", "B", ""]) == ["", "A", "B"]


def test_generator_ids_need_real_images():
    with pytest.raises(ProtocolError, match="no real images"):
        generator_id_to_name(["A", "B"])


# --- timeline CSV -----------------------------------------------------------------------------


def test_csv_with_header_quotes_and_comments(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        'generator,release_date\n"GAN, large",2020-01-02\n# a comment\n\nSmall,2020-01-01\n'
    )
    timeline = Timeline.from_csv(path)
    assert dict(timeline) == {"GAN, large": dt.date(2020, 1, 2), "Small": dt.date(2020, 1, 1)}
    assert make_windows(timeline, timeline, 1) == [["Small"], ["GAN, large"]]


def test_csv_without_header_like_the_official_one(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('CycleGAN,2017-03-30\n"Stable Diffusion 1.4",2022-08-22\n')
    assert list(Timeline.from_csv(path)) == ["CycleGAN", "Stable Diffusion 1.4"]


def test_csv_roundtrip(tmp_path):
    path = tmp_path / "t.csv"
    Timeline.builtin().to_csv(path)
    assert dict(Timeline.from_csv(path)) == dict(Timeline.builtin())


def test_csv_bad_date_names_file_and_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("generator,release_date\nA,2020-01-01\nB,2020-13-45\n")
    with pytest.raises(ProtocolError, match=rf"{path}:3: bad release date '2020-13-45' for 'B'"):
        Timeline.from_csv(path)


def test_csv_duplicate_generator_names_both_lines(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("A,2020-01-01\nB,2020-01-02\nA,2020-01-03\n")
    with pytest.raises(ProtocolError, match=rf"{path}:3: duplicate generator 'A'.*line 1"):
        Timeline.from_csv(path)


def test_csv_wrong_number_of_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("A,2020-01-01,extra\n")
    with pytest.raises(ProtocolError, match=rf"{path}:1: expected 2 columns"):
        Timeline.from_csv(path)


def test_csv_missing_file_and_empty_file(tmp_path):
    with pytest.raises(ProtocolError, match="does not exist"):
        Timeline.from_csv(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("generator,release_date\n")
    with pytest.raises(ProtocolError, match="lists no generator"):
        Timeline.from_csv(empty)


def test_csv_empty_generator_name_is_refused(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(",2020-01-01\n")
    with pytest.raises(ProtocolError, match=":1: empty generator name"):
        Timeline.from_csv(path)
