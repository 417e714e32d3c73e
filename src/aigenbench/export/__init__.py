"""Shipping a trained detector: the exported folder (Hugging Face model-repository layout), its
model card, its ONNX graph, and :func:`aigenbench.load_detector` that scores images with it.

- ``folder.py``: the folder's files and ``config.json`` format, read back and checked (no
  pickle is ever loaded);
- ``writing.py``: ``aigenbench export``: a run's detector, its thresholds and results, written;
- ``card.py`` + ``templates/model_card.md.j2``: the ``README.md`` model card (Jinja2);
- ``onnx_export.py``: the network as an ONNX graph, checked against PyTorch;
- ``detector_api.py``: the loaded detector (``score``, ``classify``) of a folder, run or
  checkpoint.
"""
