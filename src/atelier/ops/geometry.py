"""geometry ops (to be written)."""
