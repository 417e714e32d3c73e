"""Continual-learning summaries of the window x window AUROC matrix (GEM / Avalanche style).

``M[k][j]`` is the AUROC, after training step k, on window j (its generators' fakes and the
reals paired with them). With F the last evaluated step (K - 1 for a finished run):

- **final average** ``ACC = mean_j M[F][j]`` over every window j (seen or not yet seen).
- **backward transfer** (Lopez-Paz & Ranzato, GEM 2017)
  ``BWT = mean_{j < F} (M[F][j] - M[j][j])``: how the final detector does on each earlier
  window compared with right after learning it; negative means forgetting.
- **forgetting** (Chaudhry et al. 2018, as Avalanche reports it)
  ``mean_{j < F} (max_{j <= k < F} M[k][j] - M[F][j])``: the drop from the best AUROC ever
  reached on window j to the final one; 0 means nothing forgotten.
- **forward transfer** (GEM) ``FWT = mean_{1 <= j <= F} (M[j-1][j] - b_j)``: how well the
  detector does on window j *before* training on it, relative to a baseline ``b_j``. A
  detector knowing nothing has AUROC 0.5, so ``b_j = 0.5`` (GEM uses a randomly
  initialised model; we use chance level). ``M[j-1][j]`` is the Next-period AUROC of step
  j - 1, so FWT is the Next average minus 0.5.

Cells that are not defined (a window without images) are left out of every mean; a mean
over nothing is None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

CHANCE_AUROC = 0.5

Matrix = Sequence[Sequence[float | None]]


@dataclass(frozen=True)
class TransferMetrics:
    final_average: float | None
    backward_transfer: float | None
    forgetting: float | None
    forward_transfer: float | None
    final_step: int | None

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def transfer_metrics(matrix: Matrix, steps: Sequence[int] | None = None) -> TransferMetrics:
    """Summaries of ``matrix`` (row i is step ``steps[i]``, default 0..; column j is window j)."""
    steps = list(range(len(matrix))) if steps is None else list(steps)
    if not steps:
        return TransferMetrics(None, None, None, None, None)
    row_of = {step: row for step, row in zip(steps, matrix, strict=True)}
    final = max(steps)
    final_row = row_of[final]

    def cell(step: int, window: int) -> float | None:
        row = row_of.get(step)
        return None if row is None or window >= len(row) else row[window]

    final_average = _mean([v for v in final_row if v is not None])

    backward, forgetting = [], []
    for window in range(min(final, len(final_row))):
        last = final_row[window]
        if last is None:
            continue
        learned = cell(window, window)
        if learned is not None:
            backward.append(last - learned)
        earlier = [
            value
            for value in (cell(step, window) for step in range(window, final))
            if value is not None
        ]
        if earlier:
            forgetting.append(max(earlier) - last)

    forward = []
    for window in range(1, min(final, len(final_row) - 1) + 1):
        before = cell(window - 1, window)
        if before is not None:
            forward.append(before - CHANCE_AUROC)

    return TransferMetrics(
        final_average=final_average,
        backward_transfer=_mean(backward),
        forgetting=_mean(forgetting),
        forward_transfer=_mean(forward),
        final_step=final,
    )
