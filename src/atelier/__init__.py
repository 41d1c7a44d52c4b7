"""atelier: deep-learning image generation and editing — train, sample, edit, measure, offline."""
__version__ = "0.1.0"
