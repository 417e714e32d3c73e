"""LwF's distillation and EWC's penalty and Fisher, against hand computations."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from aigenbench.training.strategies import StrategyConfig, WindowContext, build_strategy
from aigenbench.training.strategies.ewc import EWCPlugin, estimate_fisher, ewc_penalty
from aigenbench.training.strategies.lwf import distillation_loss


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_binary_distillation_equals_the_hand_computed_kl():
    student = torch.tensor([[1.0], [-2.0]])
    teacher = torch.tensor([[3.0], [0.5]])
    t = 2.0
    expected = 0.0
    for s, q in ((1.0, 3.0), (-2.0, 0.5)):
        p, r = sigmoid(q / t), sigmoid(s / t)
        expected += p * math.log(p / r) + (1 - p) * math.log((1 - p) / (1 - r))
    expected = expected / 2 * t * t
    assert distillation_loss(student, teacher, t).item() == pytest.approx(expected, rel=1e-5)
    assert distillation_loss(teacher, teacher, t).item() == pytest.approx(0.0, abs=1e-7)


def test_multiclass_distillation_uses_the_teachers_classes_only():
    student = torch.tensor([[0.0, 1.0, 2.0, 9.0]])
    teacher = torch.tensor([[1.0, 0.0, 1.0, -9.0]])
    t = 3.0
    classes = [0, 1, 2]  # class 3 is a generator the teacher never learnt

    def softmax(values):
        e = [math.exp(v / t) for v in values]
        return [x / sum(e) for x in e]

    p, r = softmax([1.0, 0.0, 1.0]), softmax([0.0, 1.0, 2.0])
    expected = sum(a * math.log(a / b) for a, b in zip(p, r, strict=True)) * t * t
    got = distillation_loss(student, teacher, t, classes).item()
    assert got == pytest.approx(expected, rel=1e-5)
    # the untrained class's logit changes nothing
    student[0, 3] = -50.0
    assert distillation_loss(student, teacher, t, classes).item() == pytest.approx(got, rel=1e-5)


def test_lwf_penalty_distils_a_frozen_copy_of_the_previous_detector(continual_plan):
    from aigenbench.models.build import build_detector
    from aigenbench.models.config import ModelConfig

    torch.manual_seed(0)
    config = ModelConfig(backbone="small:cnn", pretrained=False, input_size=32)
    previous = build_detector(config, continual_plan.generator_names)
    context = WindowContext(continual_plan, 1, 1, previous=previous)
    strategy = build_strategy(
        StrategyConfig(name="lwf", temperature=2.0, distillation_weight=0.5), context
    )
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    previous.eval()
    with torch.no_grad():
        teacher = previous(previous.normalize(images))
    with torch.no_grad():  # the student (these very weights) moves on; the teacher must not
        for p in previous.parameters():
            p.add_(0.1)
    student = torch.randn(4, 1)
    got = strategy.penalty(None, {"image": images}, student)
    assert got.item() == pytest.approx(0.5 * distillation_loss(student, teacher, 2.0).item(), 1e-5)
    assert strategy.costs.extra_forward_images == 4
    # cached features: the teacher's head on the batch's features
    features = torch.randn(4, previous.feature_dim)
    with torch.no_grad():
        head = strategy.plugins[0].teacher.head_forward(features)
    got = strategy.penalty(None, {"features": features}, student)
    assert got.item() == pytest.approx(0.5 * distillation_loss(student, head, 2.0).item(), 1e-5)


def test_lwf_has_no_teacher_in_the_first_window(continual_plan):
    strategy = build_strategy(StrategyConfig(name="lwf"), WindowContext(continual_plan, 0, 1))
    assert strategy.penalty(None, {}, torch.zeros(2, 1)).item() == 0.0


def test_ewc_penalty_is_zero_at_the_anchor_and_fisher_weighted_away_from_it():
    anchor = {"w": torch.tensor([1.0, 2.0, 3.0]), "b": torch.tensor([0.5])}
    fisher = {"w": torch.tensor([0.0, 2.0, 10.0]), "b": torch.tensor([4.0])}
    at_anchor = {k: v.clone().requires_grad_(True) for k, v in anchor.items()}
    assert ewc_penalty(at_anchor, fisher, anchor, 100.0).item() == 0.0
    moved = {"w": torch.tensor([5.0, 2.5, 3.0]), "b": torch.tensor([0.0])}
    # lambda/2 * (0 * 4^2 + 2 * 0.5^2 + 10 * 0 + 4 * 0.5^2) = 50 * 1.5
    assert ewc_penalty(moved, fisher, anchor, 100.0).item() == pytest.approx(75.0)


class _Linear(nn.Module):
    """A module with the two things EWC uses: a detector and the method's loss."""

    def __init__(self) -> None:
        super().__init__()
        self.detector = nn.Linear(2, 1)

    def forward(self, batch):
        return self.detector(batch["x"])

    def training_loss(self, logits, batch):
        return nn.functional.binary_cross_entropy_with_logits(logits[:, 0], batch["label"].float())


def test_fisher_is_the_mean_squared_batch_gradient_and_online_ewc_decays_it(continual_plan):
    torch.manual_seed(0)
    module = _Linear()
    batches = [
        {"x": torch.randn(3, 2), "label": torch.tensor([0, 1, 1]), "id": torch.arange(3)},
        {"x": torch.randn(2, 2), "label": torch.tensor([1, 0]), "id": torch.arange(2)},
    ]
    expected = {name: torch.zeros_like(p) for name, p in module.detector.named_parameters()}
    for batch in batches:
        probability = torch.sigmoid(module(batch)[:, 0]).detach()
        error = (probability - batch["label"].float()) / len(batch["x"])  # d loss / d logit
        expected["weight"] += (error @ batch["x"]).pow(2).view(1, 2) / 2
        expected["bias"] += error.sum().pow(2).view(1) / 2
    fisher, rows = estimate_fisher(module, batches, torch.device("cpu"))
    assert rows == 5
    for name in expected:
        torch.testing.assert_close(fisher[name], expected[name])
    assert all(p.grad is None for p in module.parameters())  # no gradient left behind

    previous = {"ewc.fisher.weight": torch.ones(1, 2), "ewc.fisher.bias": torch.ones(1)}
    previous |= {"ewc.anchor.weight": torch.zeros(1, 2), "ewc.anchor.bias": torch.zeros(1)}
    context = WindowContext(continual_plan, 1, 1, previous_tensors=previous)
    plugin = EWCPlugin(StrategyConfig(name="ewc", ewc_decay=0.5), context, _costs())
    plugin.after_window(module, lambda rows, size: batches, torch.device("cpu"))
    torch.testing.assert_close(plugin.fisher["weight"], expected["weight"] + 0.5)
    torch.testing.assert_close(plugin.anchor["weight"], module.detector.weight.detach())


def _costs():
    from aigenbench.training.strategies import Costs

    return Costs()


def test_fisher_rows_are_a_seeded_draw_of_each_windows_own_rows(continual_plan):
    """A subset of ``fisher_samples`` rows, drawn from (seed, window): the same on a rerun, and
    not the same positions in every window (which would favour one part of each window)."""
    config = StrategyConfig(name="ewc", fisher_samples=20)

    def positions(window: int, seed: int = 1) -> list[int]:
        plugin = EWCPlugin(config, WindowContext(continual_plan, window, seed), _costs())
        own = sorted(continual_plan.training_ids(window))
        rows = plugin.fisher_rows()
        assert len(rows) == 20 and set(rows) <= set(own) and rows == sorted(rows)
        assert (
            rows
            == EWCPlugin(
                config, WindowContext(continual_plan, window, seed), _costs()
            ).fisher_rows()
        )
        return [own.index(row) for row in rows]

    assert len(continual_plan.training_ids(0)) == len(continual_plan.training_ids(1))
    assert positions(0) != positions(1)
    assert positions(0, seed=1) != positions(0, seed=2)
