"""Training: the generic Trainer, the Objective a model family supplies, checkpoints, EMA."""

from atelier.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from atelier.train.ema import EMA
from atelier.train.objective import Objective
from atelier.train.trainer import (
    StepContext,
    TrainConfig,
    Trainer,
    TrainingDiverged,
    TrainingWarning,
    select_device,
)

__all__ = [
    "EMA",
    "Objective",
    "StepContext",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "TrainingWarning",
    "latest_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
    "select_device",
]
