"""The CLI tests share the runner tests' tiny synthetic benchmark."""

from tests.training.conftest import tiny_benchmark  # noqa: F401  (the shared session fixture)
