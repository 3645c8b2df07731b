import json
import os
import signal

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from wsss.config import ConfigError, TrainConfig
from wsss.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from wsss.engine.interrupt import TrainingInterrupted
from wsss.engine.run_log import RunLog
from wsss.engine.runtime import Runtime, create_runtime
from wsss.engine.trainer import EpochSampler, NonFiniteLossError, Trainer


class Noisy(Dataset):
    """Keyed by (epoch, index); the sample depends on both, like an augmented dataset."""

    def __len__(self):
        return 10

    def __getitem__(self, key):
        epoch, index = key
        g = torch.Generator().manual_seed(epoch * 1000 + index)
        x = torch.randn(4, generator=g)
        return {"x": x, "y": x.sum(0, keepdim=True), "id": f"img{index}"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Linear(4, 8)
        self.drop = nn.Dropout(0.5)  # consumes the RNG: resume must restore it
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.drop(torch.relu(self.body(x))))

    def param_groups(self, lr, mult, bias_mult=None):
        return [{"params": self.body.parameters(), "lr": lr},
                {"params": self.head.parameters(), "lr": lr * mult}]


def mse_step(net, batch):
    return {"loss": ((net(batch["x"]) - batch["y"]) ** 2).mean()}


CFG = TrainConfig(epochs=3, batch_size=3, lr=0.05, checkpoint_every=2, log_every=1)


def make_trainer(tmp_path, step_fn=mse_step, workers=0):
    runtime = create_runtime("cpu", seed=7, workers=workers, progress=False)
    return Trainer(Net(), step_fn, Noisy(), CFG, stage="test", out_path=tmp_path / "ck" / "m.pt",
                   runtime=runtime, log=RunLog(tmp_path / "log.jsonl"), meta={"cfg": 1})


def crash_at(step_to_fail):
    calls = {"n": 0}

    def step(net, batch):
        calls["n"] += 1
        if calls["n"] == step_to_fail:
            raise KeyboardInterrupt  # a crash mid-run
        return mse_step(net, batch)
    return step


def signal_at(step_to_signal, signum):
    calls = {"n": 0}

    def step(net, batch):
        calls["n"] += 1
        if calls["n"] == step_to_signal:
            os.kill(os.getpid(), signum)  # arrives mid-step, as from a terminal or a scheduler
        return mse_step(net, batch)
    return step


def logged_steps(folder):
    return [json.loads(line)["step"] for line in (folder / "log.jsonl").read_text().splitlines()]


def assert_same_weights(a, b):
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_resumed_run_equals_uninterrupted_run(tmp_path, capsys):
    whole = make_trainer(tmp_path / "a").fit()
    crashed = make_trainer(tmp_path / "b", step_fn=crash_at(6))
    with pytest.raises(KeyboardInterrupt):
        crashed.fit()
    last = load_checkpoint(tmp_path / "b" / "ck" / "m.last.pt")
    assert last["step"] == 4  # checkpoints every 2 steps: 5 steps ran, 4 were saved
    assert logged_steps(tmp_path / "b") == [1, 2, 3, 4, 5]
    resumed = make_trainer(tmp_path / "b").fit(resume=True)
    assert "resuming from step 4 of 9" in capsys.readouterr().out
    assert_same_weights(whole, resumed)
    assert logged_steps(tmp_path / "b") == list(range(1, 10))  # step 5 is logged once
    assert not (tmp_path / "b" / "ck" / "m.last.pt").exists()
    final = load_checkpoint(tmp_path / "b" / "ck" / "m.pt")
    assert final["step"] == 9 and final["meta"] == {"cfg": 1}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_checkpoints_the_step_then_stops_and_resume_equals_uninterrupted_run(tmp_path, signum):
    whole, handler = make_trainer(tmp_path / "a").fit(), signal.getsignal(signum)
    with pytest.raises(TrainingInterrupted, match=f"{signal.Signals(signum).name} at step 5 of 9"):
        make_trainer(tmp_path / "b", step_fn=signal_at(5, signum)).fit()
    assert signal.getsignal(signum) is handler  # the handler is the caller's again
    assert load_checkpoint(tmp_path / "b" / "ck" / "m.last.pt")["step"] == 5
    assert_same_weights(whole, make_trainer(tmp_path / "b").fit(resume=True))
    assert logged_steps(tmp_path / "b") == list(range(1, 10))


def test_resume_with_nothing_to_resume_says_so(tmp_path, capsys):
    make_trainer(tmp_path).fit(resume=True)
    assert "nothing to resume: no " in capsys.readouterr().out


def test_an_interrupted_run_is_not_overwritten_without_resume(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        make_trainer(tmp_path, step_fn=crash_at(4)).fit()
    with pytest.raises(CheckpointError, match="add --resume"):
        make_trainer(tmp_path).fit()
    assert load_checkpoint(tmp_path / "ck" / "m.last.pt")["step"] == 2


def test_resume_refuses_a_checkpoint_of_another_number_of_processes(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        make_trainer(tmp_path, step_fn=crash_at(4)).fit()
    last = load_checkpoint(tmp_path / "ck" / "m.last.pt")
    save_checkpoint(tmp_path / "ck" / "m.last.pt", {**last, "rng": last["rng"] * 2})
    with pytest.raises(CheckpointError, match="saved by 2 process"):
        make_trainer(tmp_path).fit(resume=True)


def test_worker_processes_give_the_same_result(tmp_path):
    a = make_trainer(tmp_path / "a", workers=0).fit()
    b = make_trainer(tmp_path / "b", workers=2).fit()
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        make_trainer(tmp_path, step_fn=crash_at(4)).fit()
    other = make_trainer(tmp_path)
    other.meta = {"cfg": 2}
    with pytest.raises(RuntimeError, match="another configuration"):
        other.fit(resume=True)


def test_non_finite_loss_names_step_and_images(tmp_path):
    def nan_step(net, batch):
        return {"loss": net(batch["x"]).mean() * float("nan")}

    with pytest.raises(NonFiniteLossError, match=r"step 1; images: \['img"):
        make_trainer(tmp_path, step_fn=nan_step).fit()


def test_log_has_one_line_per_step_with_lr_and_speed(tmp_path):
    make_trainer(tmp_path).fit()
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == list(range(1, 10))
    assert lines[0]["lr"] == pytest.approx(0.05)
    assert lines[-1]["lr"] < lines[0]["lr"]  # poly decay
    assert all(r["images_per_s"] > 0 and "loss" in r for r in lines)


def test_sampler_shards_and_skips():
    full = list(EpochSampler(10, 2, seed=1))
    assert len(full) == 10 and sorted(i for _, i in full) == list(range(10))
    ranks = [list(EpochSampler(10, 2, seed=1, rank=r, world_size=2)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 5  # the global batch of 2 splits into 1 per rank
    for step in range(5):  # each step covers the images of the same step of one process
        assert {ranks[0][step], ranks[1][step]} == set(full[2 * step:2 * step + 2])
    resumed = EpochSampler(10, 2, seed=1)
    resumed.set_position(0, 3)
    assert list(resumed) == full[6:]
    small = list(EpochSampler(3, 4, seed=0))
    assert len(small) == 4  # a dataset smaller than a batch wraps around


def test_a_global_batch_that_does_not_split_over_the_processes_is_refused(tmp_path):
    two_processes = Runtime(torch.device("cpu"), world_size=2)  # CFG's batch of 3 cannot split in two
    with pytest.raises(ConfigError, match="multiple of 2"):
        Trainer(Net(), mse_step, Noisy(), CFG, stage="test", out_path=tmp_path / "m.pt", runtime=two_processes,
                log=RunLog(tmp_path / "log.jsonl"), meta={})
