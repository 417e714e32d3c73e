"""Concurrent requests' images through the network together: one worker thread takes every
request waiting when the device is free and scores their images in one ``classify`` call
(batches of ``batch_size``), then hands each request its own verdicts. No added delay: batches
form from the requests that queued while the previous one ran."""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any

import numpy as np

_STOP = None


class Batcher:
    def __init__(self, detector: Any, threshold: float, batch_size: int) -> None:
        self.detector = detector
        self.threshold = threshold
        self.batch_size = batch_size
        self._queue: queue.Queue[tuple[list[np.ndarray], Future] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="aigenbench-batcher", daemon=True)
        self._thread.start()

    def submit(self, arrays: list[np.ndarray]) -> Future:
        """The verdicts of ``arrays`` (in order), once scored."""
        future: Future = Future()
        self._queue.put((arrays, future))
        return future

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            pending = [first]
            count = len(first[0])
            stop = False
            while count < self.batch_size:  # whatever queued meanwhile, up to a batch
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                pending.append(item)
                count += len(item[0])
            self._score(pending)
            if stop:
                return

    def _score(self, pending: list[tuple[list[np.ndarray], Future]]) -> None:
        arrays = [array for images, _ in pending for array in images]
        try:
            verdicts = self.detector.classify(
                arrays, threshold=self.threshold, batch_size=self.batch_size
            )
        except Exception as error:  # every waiting request gets the failure, the worker goes on
            for _, future in pending:
                future.set_exception(error)
            return
        start = 0
        for images, future in pending:
            future.set_result(verdicts[start : start + len(images)])
            start += len(images)
