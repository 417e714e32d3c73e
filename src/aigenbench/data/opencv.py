"""OpenCV as this package uses it: single-threaded.

Parallelism comes from DataLoader worker processes, one image per worker at a time. Keeping
OpenCV's own thread pool off also keeps ``fork`` safe: a process whose OpenCV pool has started
(any large ``cvtColor``/``resize``) deadlocks the workers it forks as soon as they call OpenCV.
Import ``cv2`` from here so the setting is applied before the first OpenCV call.
"""

from __future__ import annotations

import cv2

cv2.setNumThreads(1)
cv2.ocl.setUseOpenCL(False)

__all__ = ["cv2"]
