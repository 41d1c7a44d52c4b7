"""The Trainer: exact resume (also after SIGKILL), checkpoints, EMA, logging, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from atelier.errors import AtelierError, InvalidArgument
from atelier.train import EMA, TrainConfig, Trainer, latest_checkpoint, load_checkpoint
from atelier.train.sampling import ResumableSampler
from tests.train.toy import NoisyRegression, Validated, toy_dataset

CFG = dict(steps=40, batch_size=8, checkpoint_every=5, log_every=5, ema_decay=0.9, grad_clip=1.0)


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    out = {f"net.{k}": v.clone() for k, v in trainer.modules["net"].state_dict().items()}
    out.update({f"ema.{k}": v.clone() for k, v in trainer.ema["net"].module.state_dict().items()})
    out["ema.updates"] = torch.tensor(trainer.ema["net"].updates)
    return out


def test_resume_equals_uninterrupted(tmp_path):
    straight = Trainer(NoisyRegression(), toy_dataset(), TrainConfig(**CFG), tmp_path / "a")
    straight.fit()
    first = Trainer(NoisyRegression(), toy_dataset(), TrainConfig(**CFG), tmp_path / "b")
    first.fit(stop_after=13)  # mid-epoch (4 batches an epoch), between checkpoints
    assert first.step == 13
    resumed = Trainer(NoisyRegression(seed=99), toy_dataset(), TrainConfig(**CFG), tmp_path / "b")
    resumed.fit()
    assert resumed.step == 40
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_after_sigkill(tmp_path):
    """A real SIGKILL mid-run, then resume: identical to a run never interrupted."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {os.getcwd()!r})
        from atelier.train import TrainConfig, Trainer
        from tests.train.toy import NoisyRegression, Validated, toy_dataset
        cfg = TrainConfig(**{CFG!r})
        trainer = Trainer(NoisyRegression(), toy_dataset(), cfg, sys.argv[1])
        original = trainer.save
        def save_then_die(ctx):
            path = original(ctx)
            if trainer.step == 20:
                os.kill(os.getpid(), signal.SIGKILL)
            return path
        trainer.save = save_then_die
        trainer.fit()
        """
    )
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path / "k")], capture_output=True)
    assert run.returncode == -signal.SIGKILL
    assert latest_checkpoint(tmp_path / "k" / "checkpoints").name == "step-00000020.pt"
    resumed = Trainer(NoisyRegression(), toy_dataset(), TrainConfig(**CFG), tmp_path / "k")
    resumed.fit()
    straight = Trainer(NoisyRegression(), toy_dataset(), TrainConfig(**CFG), tmp_path / "s")
    straight.fit()
    for key, value in _weights(straight).items():
        assert torch.equal(value, _weights(resumed)[key]), key


def test_checkpoints_kept_and_logged(tmp_path):
    cfg = TrainConfig(**{**CFG, "keep_checkpoints": 2})
    records = []
    Trainer(NoisyRegression(), toy_dataset(), cfg, tmp_path, on_log=records.append).fit()
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["step-00000035.pt", "step-00000040.pt"]
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == list(range(5, 41, 5)) == [r["step"] for r in records]
    assert all(r["loss"] >= 0 and r["images_per_s"] > 0 for r in lines)
    assert lines[-1]["loss"] < lines[0]["loss"]  # it learns
    state = load_checkpoint(tmp_path / "checkpoints" / "step-00000040.pt")
    assert state["step"] == 40 and set(state["rng"][0]) >= {"python", "numpy", "torch"}


def test_log_writes_non_finite_figures_as_null(tmp_path):
    """log.jsonl stays JSON (json.dumps would write NaN/Infinity, which strict readers refuse)."""
    trainer = Trainer(NoisyRegression(), toy_dataset(), TrainConfig(**CFG), tmp_path)
    trainer._log({"step": 1, "a": float("nan"), "b": float("inf"), "c": 0.25})
    line = (tmp_path / "log.jsonl").read_text()
    assert json.loads(line, parse_constant=lambda c: pytest.fail(f"wrote {c}")) == {
        "step": 1, "a": None, "b": None, "c": 0.25}


def test_damaged_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "step-00000005.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(AtelierError, match="not a readable atelier checkpoint"):
        Trainer(NoisyRegression(), toy_dataset(), TrainConfig(**CFG), tmp_path).fit()


def test_config_and_dataset_errors(tmp_path):
    with pytest.raises(InvalidArgument, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(InvalidArgument, match="ema_decay"):
        TrainConfig(ema_decay=1.5)
    with pytest.raises(InvalidArgument, match="fewer than one batch"):
        Trainer(NoisyRegression(), toy_dataset(5), TrainConfig(batch_size=8), tmp_path)
    if not torch.cuda.is_available():
        with pytest.raises(InvalidArgument, match="no CUDA GPU"):
            Trainer(NoisyRegression(), toy_dataset(), TrainConfig(device="cuda"), tmp_path)


def test_sampler_shards_and_resumes():
    full = ResumableSampler(10, seed=3).order(0)
    assert sorted(full) == list(range(10))
    shards = [ResumableSampler(10, seed=3, rank=r, world_size=3).order(0) for r in range(3)]
    assert all(len(s) == 4 for s in shards)  # padded to equal shards
    assert set(sum(shards, [])) == set(range(10))
    assert ResumableSampler(10, seed=3).order(1) != full  # a new order each epoch


def test_ema_tracks_weights():
    net = torch.nn.Linear(3, 1)
    ema = EMA(net, decay=0.5, warmup=False)
    before = ema.module.weight.clone()
    with torch.no_grad():
        net.weight.fill_(1.0)
    ema.update(net)
    assert torch.allclose(ema.module.weight, 0.5 * before + 0.5)


def test_ema_warm_up_forgets_the_initialisation():
    """With warm-up, decay after n updates is min(decay, (1 + n) / (10 + n)) (TensorFlow's
    ExponentialMovingAverage num_updates rule): the first update keeps only 10 % of the start."""
    net = torch.nn.Linear(3, 1)
    ema = EMA(net, decay=0.999)
    with torch.no_grad():
        net.weight.fill_(1.0)
    start = ema.module.weight.clone()
    ema.update(net)
    assert torch.allclose(ema.module.weight, 0.1 * start + 0.9)
    restored = EMA(net, decay=0.999)
    restored.load_state_dict(ema.state_dict())
    assert restored.updates == 1 and restored.decay_at(restored.updates) == pytest.approx(2 / 11)


DDP_SCRIPT = """
import sys, torch
sys.path.insert(0, {root!r})
from atelier.train import TrainConfig, Trainer
from tests.train.toy import Deterministic, toy_dataset
cfg = TrainConfig(steps=12, batch_size=8, checkpoint_every=6, log_every=6)
Trainer(Deterministic(), toy_dataset(32), cfg, sys.argv[1]).fit()
"""


def test_torchrun_two_cpu_processes_match_one(tmp_path):
    """Global-batch semantics: 2 gloo processes with half batches each reach the weights of
    one process with the whole batch (same sample order; gradients averaged)."""
    import os

    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(root=os.getcwd()))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--standalone", str(script), str(tmp_path / "ddp")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir()) == [
        "step-00000006.pt", "step-00000012.pt"
    ]
    assert len((tmp_path / "ddp" / "log.jsonl").read_text().splitlines()) == 2  # rank 0 only
    from tests.train.toy import Deterministic

    single = Trainer(
        Deterministic(), toy_dataset(32),
        TrainConfig(steps=12, batch_size=8, checkpoint_every=6, log_every=6), tmp_path / "one",
    )
    single.fit()
    ddp = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "step-00000012.pt")
    for key, value in single.modules["net"].state_dict().items():
        torch.testing.assert_close(ddp["modules"]["net"][key], value, rtol=1e-5, atol=1e-6)


VAL_CFG = {**CFG, "validate_every": 10, "keep_checkpoints": 1}


def _log(run) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_validation_logged_and_best_checkpoint_kept(tmp_path):
    """Validation every 10 steps (and at the end) on rank 0 with the EMA weights, in eval
    mode without gradients; the best step's checkpoint survives keep-last-1 pruning."""
    objective = Validated(higher_is_better=True)  # the best is the first, highest MSE
    trainer = Trainer(objective, toy_dataset(), TrainConfig(**VAL_CFG), tmp_path)
    trainer.fit()
    records = [r for r in _log(tmp_path) if "val_mse" in r]
    assert [r["step"] for r in records] == [10, 20, 30, 40]
    assert trainer.best == {"step": 10, "metric": "val_mse", "value": pytest.approx(records[0]["val_mse"], abs=1e-6)}
    assert all(r["best_step"] == 10 and r["best_val_mse"] == records[0]["val_mse"] for r in records)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["step-00000010.pt", "step-00000040.pt"]
    assert trainer.best_checkpoint == tmp_path / "checkpoints" / "step-00000010.pt"
    net, training, grad = objective.seen[0]
    assert net is trainer.ema["net"].module and not training and not grad
    assert trainer.modules["net"].training  # the training module's mode is restored


def test_best_moves_and_old_best_is_pruned(tmp_path):
    trainer = Trainer(Validated(), toy_dataset(), TrainConfig(**VAL_CFG), tmp_path)
    trainer.fit()
    values = [r["val_mse"] for r in _log(tmp_path) if "val_mse" in r]
    best = min(range(4), key=lambda k: (values[k], k))
    assert trainer.best["step"] == 10 * (best + 1)
    assert trainer.best["value"] == pytest.approx(values[best], abs=1e-6)
    kept = {p.name for p in (tmp_path / "checkpoints").iterdir()}
    assert kept == {"step-00000040.pt", f"step-{10 * (best + 1):08d}.pt"}


def test_validation_leaves_training_randomness_alone(tmp_path):
    """validate() drawing from the global RNGs changes nothing: forked RNG states."""
    quiet = Trainer(NoisyRegression(), toy_dataset(), TrainConfig(**CFG), tmp_path / "a")
    quiet.fit()
    noisy = Trainer(Validated(draw_rng=True), toy_dataset(), TrainConfig(**{**CFG, "validate_every": 3}), tmp_path / "b")
    noisy.fit()
    for key, value in _weights(quiet).items():
        assert torch.equal(value, _weights(noisy)[key]), key


def test_best_survives_sigkill_and_resume(tmp_path):
    """SIGKILL right after the step-30 checkpoint, resume: same best, same weights, same
    checkpoints as a run never interrupted."""
    cfg = {**VAL_CFG, "keep_checkpoints": 1}
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {os.getcwd()!r})
        from atelier.train import TrainConfig, Trainer
        from tests.train.toy import Validated, toy_dataset
        trainer = Trainer(Validated(higher_is_better=True), toy_dataset(), TrainConfig(**{cfg!r}), sys.argv[1])
        original = trainer.save
        def save_then_die(ctx):
            path = original(ctx)
            if trainer.step == 30:
                os.kill(os.getpid(), signal.SIGKILL)
            return path
        trainer.save = save_then_die
        trainer.fit()
        """
    )
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path / "k")], capture_output=True)
    assert run.returncode == -signal.SIGKILL
    resumed = Trainer(Validated(higher_is_better=True), toy_dataset(), TrainConfig(**cfg), tmp_path / "k")
    resumed.fit()
    straight = Trainer(Validated(higher_is_better=True), toy_dataset(), TrainConfig(**cfg), tmp_path / "s")
    straight.fit()
    assert resumed.best == straight.best and resumed.best["step"] == 10
    for key, value in _weights(straight).items():
        assert torch.equal(value, _weights(resumed)[key]), key
    assert sorted(p.name for p in (tmp_path / "k" / "checkpoints").iterdir()) == [
        "step-00000010.pt", "step-00000040.pt"
    ]
    assert load_checkpoint(tmp_path / "k" / "checkpoints" / "step-00000040.pt")["best"] == straight.best


def test_validate_every_must_be_positive():
    with pytest.raises(InvalidArgument, match="validate_every"):
        TrainConfig(validate_every=0)
