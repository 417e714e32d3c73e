"""UnivFD: a frozen CLIP ViT-L/14 and a linear classifier on its image embedding.

Paper: Ojha, Li, Lee, "Towards Universal Fake Image Detectors that Generalize Across Generative
Models", CVPR 2023. The network is exactly the default method's ``probe``: the CLIP image
embedding (768-d, after CLIP's projection) and one linear layer trained with BCE; the point of
the paper is that CLIP's feature space, never trained to detect fakes, separates them without
overfitting to the training generator's artifacts.

What differs here, and why: UnivFD trained once on ProGAN (20 classes) with Adam (lr 1e-4) on
224 center crops with blur/JPEG augmentation; here it follows the protocol (windows of four
generators in release order, the protocol's augmentation and mandatory degradations).
Published for orientation: 93.4 mean AP (81.4 mean accuracy) over the 19 test generators of its
own benchmark, trained on ProGAN only.
"""

from __future__ import annotations

from aigenbench.training.module import DetectorModule


class UnivFD(DetectorModule):
    """The default network and loss; named so that results say which recipe trained them.
    Use with ``configs/methods/univfd.yaml`` (CLIP ViT-L/14, ``freezing: probe``)."""
