"""User-facing tasks: numpy in, numpy out (and batch drivers over files)."""
