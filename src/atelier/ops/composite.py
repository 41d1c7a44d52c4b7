"""composite ops (to be written)."""
