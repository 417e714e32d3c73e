"""Requests that wait while the network is busy are scored together, each getting its own
verdicts back."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from aigenbench.serve.batching import Batcher


class SlowDetector:
    """Records each classify call's image count; the first call waits until released."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def classify(self, arrays, threshold, batch_size):
        self.calls.append(len(arrays))
        if len(self.calls) == 1:
            self.started.set()
            assert self.release.wait(10)
        if any(array.size == 0 for array in arrays):
            raise RuntimeError("cannot score an empty image")
        return [(int(array[0, 0, 0]), threshold) for array in arrays]


def image(value: int) -> np.ndarray:
    return np.full((2, 2, 3), value, dtype=np.uint8)


def test_waiting_requests_share_one_pass_and_get_their_own_answers():
    detector = SlowDetector()
    batcher = Batcher(detector, threshold=0.3, batch_size=16)
    try:
        first = batcher.submit([image(1)])
        assert detector.started.wait(10)
        second = batcher.submit([image(2), image(3)])
        third = batcher.submit([image(4), image(5)])
        detector.release.set()
        assert first.result(10) == [(1, 0.3)]
        assert second.result(10) == [(2, 0.3), (3, 0.3)]
        assert third.result(10) == [(4, 0.3), (5, 0.3)]
        assert detector.calls == [1, 4]  # the two waiting requests in one pass
    finally:
        batcher.close()


def test_a_failed_pass_fails_its_requests_and_the_worker_goes_on():
    detector = SlowDetector()
    detector.release.set()
    batcher = Batcher(detector, threshold=0.5, batch_size=4)
    try:
        assert batcher.submit([image(1)]).result(10) == [(1, 0.5)]
        broken = batcher.submit([np.zeros((0, 0, 3), dtype=np.uint8)])
        with pytest.raises(RuntimeError, match="empty image"):
            broken.result(10)
        assert batcher.submit([image(7)]).result(10) == [(7, 0.5)]
    finally:
        batcher.close()
