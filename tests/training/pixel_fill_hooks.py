"""Sends SIGTERM to this very process while the pixel cache's training store is being filled.

Imported by the run under test through ``--experiment.imports``: the first time the fill asks
for sample ``AIGENBENCH_TEST_SIGNAL_AT_SAMPLE`` of the training store (the second batch of the
tiny benchmark's fill), the process signals itself, as a cluster's stop would. Nothing happens
when the variable is unset.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from aigenbench.training import pixel_cache

AT = os.environ.get("AIGENBENCH_TEST_SIGNAL_AT_SAMPLE", "")
_real = pixel_cache._DeterministicParts.__getitem__
_sent = False


def _getitem(self: Any, position: int) -> Any:
    global _sent
    if AT and not _sent and position == int(AT):
        _sent = True
        os.kill(os.getpid(), signal.SIGTERM)
    return _real(self, position)


pixel_cache._DeterministicParts.__getitem__ = _getitem  # type: ignore[method-assign]
