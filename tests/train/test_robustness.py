"""The Trainer when things go wrong: settings out of range, a loss that becomes NaN, a
damaged newest checkpoint, a learning rate changed on resume, a second process on one run."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.train import TrainConfig, Trainer, TrainingDiverged, TrainingWarning
from atelier.train.checkpoint import list_checkpoints, load_checkpoint
from atelier.train.lock import RunInUse, RunLock
from tests.train.toy import NoisyRegression, toy_dataset

CFG = dict(steps=12, batch_size=8, checkpoint_every=4, log_every=4)


@pytest.mark.parametrize(
    "settings,match",
    [
        ({"steps": True}, "train.steps must be an integer, got True"),
        ({"steps": 1e3}, "train.steps must be an integer, got 1000.0"),
        ({"steps": 0}, "train.steps must be an integer from 1 to"),
        ({"grad_clip": -1}, r"train.grad_clip must be > 0, got -1"),
        ({"grad_clip": float("nan")}, "train.grad_clip must be a finite number"),
        ({"grad_clip": float("inf")}, "train.grad_clip must be a finite number"),
        ({"ema_decay": "nan"}, "train.ema_decay must be a number"),
        ({"ema_decay": float("nan")}, "train.ema_decay must be a finite number"),
        ({"ema_decay": 1.0}, r"train.ema_decay must be in \(0, 1\)"),
        ({"num_workers": -1}, "train.num_workers must be an integer from 0"),
        ({"batch_size": 10**9}, "train.batch_size must be an integer from 1 to 65536"),
        ({"device": "tpu"}, "train.device: unknown device 'tpu'"),
        ({"device": 3}, "train.device must be a string"),
        ({"precision": "fp64"}, "train.precision must be one of"),
        ({"validate_every": 0}, "train.validate_every must be an integer from 1"),
    ],
)
def test_train_config_checks_every_field(settings, match):
    with pytest.raises(InvalidArgument, match=match):
        TrainConfig(**settings)


def test_train_config_accepts_valid_values():
    cfg = TrainConfig(grad_clip=1, ema_decay=0.99, keep_checkpoints=0, validate_every=None)
    assert cfg.grad_clip == 1.0 and isinstance(cfg.grad_clip, float)


class Explodes(NoisyRegression):
    """Multiplies its loss by NaN at one step (``at``, 0-based): the weights become NaN."""

    def __init__(self, at: int, stale: bool = False) -> None:
        super().__init__()
        self.at, self.stale = at, stale

    def step(self, batch, step, ctx):
        if step != self.at:
            return super().step(batch, step, ctx)
        if self.stale:  # a reported NaN with healthy weights (a GAN's g_loss between its steps)
            super().step(batch, step, ctx)
            return {"loss": float("nan")}
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x).squeeze(1), y) * float("nan")
        ctx.optimize("opt", loss)
        return {"loss": loss.item()}


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    trainer = Trainer(Explodes(at=6), toy_dataset(), TrainConfig(**CFG), tmp_path)
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit()
    message = str(info.value)
    assert "loss became non-finite (nan) at step 7" in message
    assert "the last good checkpoint is step 4" in message and "grad_clip" in message
    assert "\n" not in message
    assert [p.name for p in list_checkpoints(tmp_path / "checkpoints")] == ["step-00000004.pt"]
    state = load_checkpoint(tmp_path / "checkpoints" / "step-00000004.pt")
    assert all(torch.isfinite(v).all() for v in state["modules"]["net"].values())


class Poisons(NoisyRegression):
    """Sets a weight to infinity after the 8th step (right before the checkpoint of step 8)."""

    def step(self, batch, step, ctx):
        out = super().step(batch, step, ctx)
        if step == 7:
            with torch.no_grad():
                self.net[0].weight[0, 0] = float("inf")
        return out


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    trainer = Trainer(Poisons(), toy_dataset(), TrainConfig(**CFG), tmp_path)
    with pytest.raises(TrainingDiverged, match="weights became non-finite .* by step 8; the last good checkpoint is step 4"):
        trainer.fit()
    assert [p.name for p in list_checkpoints(tmp_path / "checkpoints")] == ["step-00000004.pt"]


def test_a_stale_nan_report_with_finite_weights_does_not_stop(tmp_path):
    Trainer(Explodes(at=6, stale=True), toy_dataset(), TrainConfig(**CFG), tmp_path).fit()
    assert list_checkpoints(tmp_path / "checkpoints")[-1].name == "step-00000012.pt"


def test_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    Trainer(NoisyRegression(), toy_dataset(), TrainConfig(**CFG), tmp_path).fit(stop_after=8)
    newest = tmp_path / "checkpoints" / "step-00000008.pt"
    newest.write_bytes(newest.read_bytes()[:500])  # truncated: a full disk, a copy cut short
    resumed = Trainer(NoisyRegression(), toy_dataset(), TrainConfig(**CFG), tmp_path)
    with pytest.warns(TrainingWarning, match="step-00000008.pt .* cannot be read .*resuming from step-00000004.pt"):
        resumed.fit()
    assert resumed.step == 12
    straight = Trainer(NoisyRegression(), toy_dataset(), TrainConfig(**CFG), tmp_path / "s")
    straight.fit()
    for key, value in straight.modules["net"].state_dict().items():
        assert torch.equal(value, resumed.modules["net"].state_dict()[key]), key


def test_steps_below_the_reached_step_is_an_error(tmp_path):
    Trainer(NoisyRegression(), toy_dataset(), TrainConfig(**CFG), tmp_path).fit(stop_after=8)
    with pytest.raises(InvalidArgument, match="train.steps=4 is below the step this run has reached"):
        Trainer(NoisyRegression(), toy_dataset(), TrainConfig(**{**CFG, "steps": 4}), tmp_path).fit()


def _rebuilt_with_lr(lr: float) -> NoisyRegression:
    """A NoisyRegression built as if its recipe said ``lr`` (Adam + cosine schedule)."""
    objective = NoisyRegression()
    objective.opt = torch.optim.Adam(objective.net.parameters(), lr=lr)
    objective.sched = torch.optim.lr_scheduler.CosineAnnealingLR(objective.opt, T_max=40)
    return objective


def test_resume_takes_the_new_learning_rate_and_keeps_the_schedule(tmp_path):
    Trainer(_rebuilt_with_lr(0.01), toy_dataset(), TrainConfig(**CFG), tmp_path).fit(stop_after=8)
    objective = _rebuilt_with_lr(0.05)
    resumed = Trainer(objective, toy_dataset(), TrainConfig(**CFG), tmp_path)
    resumed.fit(stop_after=0)  # load the checkpoint of step 8, train nothing
    group = objective.opt.param_groups[0]
    assert group["initial_lr"] == 0.05 and objective.sched.base_lrs == [0.05]
    # the place in the cosine schedule is the checkpoint's (step 8 of 40), the base the new one
    assert math.isclose(group["lr"], 0.05 * (1 + math.cos(math.pi * 8 / 40)) / 2, rel_tol=1e-6)
    assert objective.opt.state[group["params"][0]]["step"] == 8  # Adam's moments carried over
    resumed.fit()
    saved = load_checkpoint(tmp_path / "checkpoints" / "step-00000012.pt")
    assert saved["optimizers"]["opt"]["param_groups"][0]["initial_lr"] == 0.05


def test_progress_is_reported_every_step(tmp_path):
    steps: list[int] = []
    Trainer(NoisyRegression(), toy_dataset(), TrainConfig(**CFG), tmp_path, on_progress=steps.append).fit(stop_after=5)
    Trainer(NoisyRegression(), toy_dataset(), TrainConfig(**CFG), tmp_path, on_progress=steps.append).fit()
    assert steps == [0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10, 11, 12]  # the stop at 5 checkpoints


def test_run_lock_is_exclusive_and_names_the_holder(tmp_path):
    run = tmp_path / "run"
    with RunLock(run):
        assert (run / "run.lock").read_text().strip() == str(os.getpid())
        with pytest.raises(RunInUse, match=f"{run} is in use by another atelier process \\(pid {os.getpid()}\\)"):
            RunLock(run).acquire()
    with RunLock(run):  # released: free again
        pass


def test_run_lock_is_released_when_its_process_dies(tmp_path):
    """The kernel drops a flock with its process, so a killed run never blocks its resume."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {os.getcwd()!r})
        from atelier.train.lock import RunLock
        RunLock(sys.argv[1]).acquire()
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "run")], check=False)
    with RunLock(tmp_path / "run"):
        pass


def test_run_lock_on_a_file_is_one_line(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InvalidArgument, match="is a file"):
        RunLock(tmp_path / "f" / "run").acquire()
