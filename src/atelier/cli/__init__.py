"""The ``atelier`` command: a thin layer over tasks, ops and metrics."""
