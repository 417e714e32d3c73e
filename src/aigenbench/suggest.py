""" "Did you mean ...?": the close names of a misspelt one, for every message that needs them.

Flat names (commands, backbones, fusions, shipped configs) are compared whole. Dotted keys
(``model.optimizer.init_args.lr``) are also compared by their last part within the same
section, so ``model.lr`` finds ``model.optimizer.init_args.lr`` however deep it sits.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_names(name: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` candidates that look like ``name``, the closest first."""
    return difflib.get_close_matches(name, list(dict.fromkeys(candidates)), n=n, cutoff=cutoff)


def close_keys(key: str, keys: Iterable[str], n: int = 3) -> list[str]:
    """Dotted ``keys`` that ``key`` probably meant: same last part in the same section first
    (``model.lr`` -> ``model.optimizer.init_args.lr``), then keys close as a whole, then keys
    of the same section whose last part is close."""
    keys = list(dict.fromkeys(keys))
    section, _, leaf = key.rpartition(".")
    same_section = [k for k in keys if not section or k.startswith(section + ".")]
    found = [k for k in same_section if k != key and k.rpartition(".")[2] == leaf]
    found += close_names(key, keys, n=n, cutoff=0.6)
    leaves = {k.rpartition(".")[2]: k for k in reversed(same_section)}
    found += [leaves[close] for close in close_names(leaf, leaves, n=n, cutoff=0.7)]
    return list(dict.fromkeys(found))[:n]


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.6) -> str:
    """``" Did you mean: a, b?"`` (with its leading space), or ``""`` when nothing is close."""
    close = close_names(name, candidates, n=n, cutoff=cutoff)
    return f" Did you mean: {', '.join(close)}?" if close else ""
