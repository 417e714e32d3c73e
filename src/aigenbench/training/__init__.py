"""Training: the LightningModule of a window, schedules, the frozen-feature cache.

Submodules are imported directly (``aigenbench.training.module``) so that importing this
package stays cheap; the window runner lives in ``aigenbench.training.runner``.
"""
