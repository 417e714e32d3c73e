"""Learning without Forgetting (Li & Hoiem 2016): distil window k-1's detector on window k's images.

The teacher is window k-1's final detector, frozen; on every training batch the student's outputs
are pulled towards the teacher's softened ones:

- binary (one logit): ``T^2 * mean KL(Bernoulli(sigmoid(t/T)) || Bernoulli(sigmoid(s/T)))``;
- multiclass: ``T^2 * mean KL(softmax(t/T) || softmax(s/T))`` over the classes the teacher was
  trained on (real and the generators of windows 0..k-1): the new generators' classes are free.

Both are zero when the student agrees with the teacher. With a frozen backbone and cached
features the teacher runs its own head on the batch's features (its backbone is the same).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from aigenbench.protocol import REAL_GENERATOR
from aigenbench.training.strategies.base import StrategyPlugin


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    temperature: float,
    classes: Sequence[int] | None = None,
) -> torch.Tensor:
    """``T^2`` times the mean KL divergence from the teacher's soft outputs to the student's.

    ``student``/``teacher``: logits ``[N, 1]`` (binary, sigmoid) or ``[N, C]`` (softmax over
    ``classes``, default all).
    """
    student, teacher = student.float(), teacher.float().detach()
    t = float(temperature)
    if student.shape[1] == 1:
        s, q = student[:, 0] / t, teacher[:, 0] / t
        target = torch.sigmoid(q)
        # KL(p_t || p_s) = BCE(s; p_t) - BCE(q; p_t) (the teacher's own entropy)
        kl = F.binary_cross_entropy_with_logits(
            s, target, reduction="none"
        ) - F.binary_cross_entropy_with_logits(q, target, reduction="none")
        return kl.mean() * t * t
    if classes is not None:
        index = torch.as_tensor(list(classes), device=student.device, dtype=torch.long)
        student, teacher = student.index_select(1, index), teacher.index_select(1, index)
    log_student = F.log_softmax(student / t, dim=1)
    log_teacher = F.log_softmax(teacher / t, dim=1)
    kl = (log_teacher.exp() * (log_teacher - log_student)).sum(dim=1)
    return kl.mean() * t * t


class LwFPlugin(StrategyPlugin):
    """The distillation term, with window k-1's detector as the teacher (none in window 0)."""

    name = "lwf"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        previous = self.context.previous
        # A copy: the student starts from these very weights and trains them in place.
        self.teacher = None if previous is None else copy.deepcopy(previous)
        if self.teacher is not None:
            self.teacher.eval()
            self.teacher.requires_grad_(False)
        self.classes = self._teacher_classes()

    def _teacher_classes(self) -> list[int]:
        plan, window = self.context.plan, self.context.window
        known = {REAL_GENERATOR}
        for generators in plan.windows[:window]:
            known.update(generators)
        return [i for i, name in enumerate(plan.generator_names) if name in known]

    def teacher_logits(
        self, batch: Mapping[str, torch.Tensor], device: torch.device
    ) -> torch.Tensor:
        assert self.teacher is not None
        teacher = self.teacher
        if teacher.mean.device != device:
            teacher.to(device)
        with torch.no_grad():
            if "features" in batch:
                return teacher.head_outputs(batch["features"])["logits"]
            images = batch["image"]
            if images.dtype == torch.uint8:
                images = teacher.normalize(images)
            return teacher(images)

    def penalty(
        self, module: Any, batch: Mapping[str, torch.Tensor], logits: torch.Tensor
    ) -> torch.Tensor | None:
        if self.teacher is None or self.config.distillation_weight == 0:
            return None
        teacher = self.teacher_logits(batch, logits.device)
        self.costs.extra_forward_images += len(logits)
        classes = None if logits.shape[1] == 1 else self.classes
        loss = distillation_loss(logits, teacher, self.config.temperature, classes)
        return self.config.distillation_weight * loss
