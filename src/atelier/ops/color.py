"""color ops (to be written)."""
