"""filters ops (to be written)."""
