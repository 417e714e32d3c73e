"""Training rows (PROTOCOL.md §4) and evaluation sets (§5), with worked examples and an oracle."""

from __future__ import annotations

import datetime as dt
import random

import datasets
import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from aigenbench.errors import ProtocolError
from aigenbench.protocol import (
    ProtocolConfig,
    Timeline,
    evaluation_set,
    index_split,
    make_plan,
    training_subset,
    training_windows,
)

TIMELINE = Timeline(
    {
        "A": dt.date(2020, 1, 1),
        "B": dt.date(2020, 1, 2),
        "C": dt.date(2020, 1, 3),
        "D": dt.date(2020, 1, 4),
    },
    source="test",
)

# IDs:        0    1   2    3   4    5   6    7   8    9   10  11   12   13  14
TRAIN = ["", "A", "", "B", "", "C", "", "A", "", "D", "", "", "X", "", "C"]


def test_ids_are_row_indices_before_unknown_generators_are_dropped():
    split = index_split(TRAIN, TIMELINE, name="train", unknown="drop")
    assert 12 not in split.ids
    assert split.ids[-2:] == (13, 14)
    assert split.dropped == {"X": 1}


def test_unknown_generator_is_an_error_by_default():
    with pytest.raises(ProtocolError, match="'X' are in the data but not in the timeline"):
        index_split(TRAIN, TIMELINE, name="train")


def test_empty_split_is_an_error():
    with pytest.raises(ProtocolError, match="validation split is empty"):
        index_split([], TIMELINE, name="validation")


def test_worked_example_of_the_real_draw_and_cumulative_windows():
    split = index_split(TRAIN, TIMELINE, name="train", unknown="drop")
    windows = [["A", "B"], ["C", "D"]]
    # Window 0: fakes 1, 3, 7. random.seed(1337); random.sample([0,2,4,6,8,10,11,13], 3)
    # = [10, 8, 11]. Window 1: fakes 5, 9, 14; random.seed(1338) over the 5 reals left
    # [0, 2, 4, 6, 13] gives [4, 13, 6].
    continual = training_windows(split, windows, "continual_learning")
    assert continual == [[10, 8, 11, 1, 3, 7], [4, 13, 6, 5, 9, 14]]
    cumulative = training_windows(split, windows, "cumulative")
    assert cumulative == [[10, 8, 11, 1, 3, 7], [4, 13, 6, 5, 9, 14, 10, 8, 11, 1, 3, 7]]
    assert training_windows(split, windows, "none") == [list(split.ids)]


def test_reals_are_never_drawn_twice_and_match_the_fakes_in_number():
    rng = random.Random(0)
    column = [rng.choice(["", "", "", "", "", "A", "B", "C", "D"]) for _ in range(400)]
    split = index_split(column, TIMELINE, name="train")
    windows = [["A"], ["B"], ["C"], ["D"]]
    own = training_windows(split, windows, "continual_learning")
    seen: set[int] = set()
    for window, rows in zip(windows, own, strict=True):
        reals = [r for r in rows if column[r] == ""]
        fakes = [r for r in rows if column[r] != ""]
        assert len(reals) == len(fakes)
        assert {column[r] for r in fakes} == set(window)
        assert not seen & set(reals)
        seen |= set(reals)


def test_window_short_of_reals_is_a_clear_error():
    split = index_split(["", "A", "A", "B"], TIMELINE, name="train")
    with pytest.raises(ProtocolError, match="window 0 needs 2 real training images"):
        training_windows(split, [["A"], ["B"]], "cumulative")


def test_training_subset_is_stratified_and_deterministic():
    ids = list(range(100, 140))
    generators = ["", "A"] * 20
    first = training_subset(ids, generators, 0.5, seed=1337)
    assert first == training_subset(ids, generators, 0.5, seed=1337)
    assert len(first) == 20
    assert sum(1 for i in first if generators[i - 100] == "") == 10
    assert len(training_subset(ids, generators, 10, seed=1)) == 10
    assert training_subset(ids, generators, 0, seed=1) == ids


def test_training_subset_too_large_is_an_error():
    with pytest.raises(ProtocolError, match="train_subset_size"):
        training_subset([1, 2, 3, 4], ["", "A", "", "A"], 4, seed=1)


# --- evaluation set --------------------------------------------------------------------------

GENERATOR_NAMES = ["", "A", "B", "C", "D"]


def official_evaluation_oracle(column, stage="validate", subset=0):
    """The official procedure replayed with real ``datasets.Dataset`` operations."""
    ds = datasets.Dataset.from_dict({"generator": list(column)})
    ds = ds.add_column("ID", list(range(len(ds))))
    keep = [i for i, g in enumerate(column) if g == "" or g in TIMELINE]
    ds = ds.select(keep)
    gens = ds["generator"]
    reals = [i for i, g in enumerate(gens) if g == ""]
    fakes = [i for i, g in enumerate(gens) if g != ""]
    if len(reals) > len(fakes):
        random.seed(1338)
        chosen = random.sample(reals, len(fakes)) + fakes
    elif len(fakes) > len(reals):
        picked, _ = train_test_split(
            fakes, train_size=len(reals), stratify=[gens[i] for i in fakes], random_state=1338
        )
        chosen = reals + picked
    else:
        chosen = reals + fakes  # the official code crashes here
    ds = ds.select(chosen)
    if subset:
        n = int(subset * len(ds)) if isinstance(subset, float) and subset < 1 else int(subset)
        picked, _ = train_test_split(
            list(range(len(ds))), train_size=n, stratify=ds["generator"], random_state=1339
        )
        ds = ds.select(picked)
    ds = ds.shuffle(seed=1340, keep_in_memory=True)
    gens = ds["generator"]
    reals = [i for i, g in enumerate(gens) if g == ""]
    fakes = [i for i, g in enumerate(gens) if g != ""]
    random.seed(1341 if stage == "validate" else 1340)
    random.shuffle(reals)
    ids = ds["ID"]
    pairing = {ids[r]: GENERATOR_NAMES.index(gens[f]) for f, r in zip(fakes, reals, strict=False)}
    return ids, pairing


def random_column(seed, n_real, per_generator, extra_unknown=0):
    rng = random.Random(seed)
    column = [""] * n_real
    for name, count in zip("ABCD", per_generator, strict=True):
        column += [name] * count
    column += ["X"] * extra_unknown
    rng.shuffle(column)
    return column


@pytest.mark.parametrize(
    ("n_real", "per_generator"),
    [(90, (10, 12, 8, 15)), (20, (10, 12, 8, 15)), (45, (10, 12, 8, 15))],
    ids=["more-reals", "more-fakes", "equal"],
)
@pytest.mark.parametrize("stage", ["validate", "test"])
def test_evaluation_set_matches_the_official_procedure(n_real, per_generator, stage):
    column = random_column(7, n_real, per_generator, extra_unknown=5)
    split = index_split(column, TIMELINE, name="validation", unknown="drop")
    ours = evaluation_set(split, GENERATOR_NAMES, stage=stage)
    ids, pairing = official_evaluation_oracle(column, stage)
    assert list(ours.ids) == ids
    assert ours.pairing == pairing
    assert list(ours.generators) == [column[i] for i in ids]


@pytest.mark.parametrize("subset", [40, 0.5])
def test_evaluation_subset_matches_the_official_procedure(subset):
    column = random_column(3, 120, (20, 20, 20, 20))
    split = index_split(column, TIMELINE, name="validation")
    ours = evaluation_set(split, GENERATOR_NAMES, subset_size=subset)
    ids, pairing = official_evaluation_oracle(column, subset=subset)
    assert list(ours.ids) == ids
    assert ours.pairing == pairing


def test_worked_example_more_reals():
    #        0    1   2   3    4   5    6   7    8   9
    column = ["", "A", "", "", "B", "", "C", "", "D", ""]
    split = index_split(column, TIMELINE, name="validation")
    result = evaluation_set(split, GENERATOR_NAMES)
    random.seed(1338)
    kept_reals = random.sample([0, 2, 3, 5, 7, 9], 4)
    chosen = [*kept_reals, 1, 4, 6, 8]
    order = [chosen[p] for p in np.random.default_rng(1340).permutation(8)]
    assert list(result.ids) == order
    assert sorted(result.ids) == sorted(chosen)
    assert result.labels.count(0) == result.labels.count(1) == 4
    # Every paired real points at one fake generator, and each fake generator gets one real.
    assert sorted(result.pairing) == sorted(kept_reals)
    assert sorted(result.pairing.values()) == [1, 2, 3, 4]
    column_of = result.pairing_of(list(result.ids))
    assert [int(v) for v in column_of if v >= 0] == [
        result.pairing[i] for i in result.ids if i in result.pairing
    ]
    assert all(column_of[p] == -1 for p, i in enumerate(result.ids) if column[i] != "")


def test_equal_counts_keep_everything_instead_of_crashing():
    column = ["", "A", "", "B"]
    result = evaluation_set(index_split(column, TIMELINE, name="validation"), GENERATOR_NAMES)
    assert sorted(result.ids) == [0, 1, 2, 3]
    assert sorted(result.pairing.values()) == [1, 2]


def test_validation_and_test_pairings_use_different_seeds():
    column = random_column(11, 200, (50, 50, 50, 50))
    split = index_split(column, TIMELINE, name="validation")
    validate = evaluation_set(split, GENERATOR_NAMES, stage="validate")
    test = evaluation_set(split, GENERATOR_NAMES, stage="test")
    assert validate.ids == test.ids
    assert validate.pairing != test.pairing
    assert sorted(validate.pairing) == sorted(test.pairing)


def test_evaluation_set_errors():
    with pytest.raises(ProtocolError, match="no real images"):
        evaluation_set(index_split(["A", "B"], TIMELINE, name="validation"), GENERATOR_NAMES)
    with pytest.raises(ProtocolError, match="no fake images"):
        evaluation_set(index_split(["", ""], TIMELINE, name="validation"), GENERATOR_NAMES)
    with pytest.raises(ProtocolError, match="'D' that the train split lacks"):
        evaluation_set(index_split(["", "D"], TIMELINE, name="validation"), ["", "A"])
    with pytest.raises(ProtocolError, match="stratified draw"):
        # One fake of A and two of B with a single real: a stratified pick of 1 over 2 generators.
        evaluation_set(
            index_split(["", "A", "B", "B"], TIMELINE, name="validation"), GENERATOR_NAMES
        )


# --- the plan --------------------------------------------------------------------------------


def test_plan_ties_everything_together():
    train = random_column(1, 400, (40, 40, 40, 40))
    validation = random_column(2, 100, (10, 10, 10, 10))
    plan = make_plan(train, validation, ProtocolConfig(generators_per_window=2), TIMELINE)
    assert plan.windows == [["A", "B"], ["C", "D"]]
    assert plan.generator_names == GENERATOR_NAMES
    assert len(plan.training_ids(0)) == 160
    assert len(plan.training_ids(1)) == 320
    assert set(plan.training_ids(0)) < set(plan.training_ids(1))
    assert len(plan.evaluation("validate")) == 80
    with pytest.raises(ProtocolError, match="window 2 does not exist"):
        plan.training_ids(2)


def test_plan_notes_timeline_generators_without_data():
    train = ["", "A", "", "B"]
    plan = make_plan(train, train, ProtocolConfig(generators_per_window=1), TIMELINE)
    assert plan.windows == [["A"], ["B"]]
    assert any("'C'" in note or "C" in note for note in plan.notes)


def test_plan_with_train_subset_is_stratified_per_window():
    train = random_column(5, 400, (40, 40, 40, 40))
    config = ProtocolConfig(generators_per_window=2, train_subset_size=0.25)
    plan = make_plan(train, train, config, TIMELINE)
    rows = plan.training_ids(0)
    assert len(rows) == 40
    assert {train[r] for r in rows} == {"", "A", "B"}
    assert rows == plan.training_ids(0)
