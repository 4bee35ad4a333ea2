import math

import pytest

from striate.config import ScheduleConfig
from striate.training.schedules import Schedule


def lrs(name, epochs=(0, 1, 2, 5), eta0=0.1, total=10, **settings):
    schedule = Schedule(ScheduleConfig(schedule=name, **settings), eta0, total, batches_per_epoch=10)
    return [schedule.lr(e) for e in epochs]


def test_constant():
    assert lrs("constant") == [0.1] * 4


def test_inverse_time():
    assert lrs("inverse-time", inverse_time_decay=0.5) == pytest.approx(
        [0.1, 0.1 / 1.5, 0.1 / 2, 0.1 / 3.5])


def test_exponential_is_cs231n_lr_decay_per_epoch():
    assert lrs("exponential", lr_decay=0.95) == pytest.approx(
        [0.1, 0.095, 0.09025, 0.1 * 0.95 ** 5])
    assert lrs("exponential", epochs=(1.0, 1.99), lr_decay=0.5) == [0.05, 0.05]


def test_step():
    assert lrs("step", epochs=(0, 2.9, 3, 6), lr_decay=0.1, step_epochs=3) == pytest.approx(
        [0.1, 0.1, 0.01, 0.001])


def test_cosine_anneals_to_zero():
    assert lrs("cosine", epochs=(0, 5, 10, 12), total=10) == pytest.approx(
        [0.1, 0.05, 0.0, 0.0], abs=1e-12)
    assert lrs("cosine", epochs=(2.5,), total=10)[0] == pytest.approx(
        0.05 * (1 + math.cos(math.pi / 4)))


def test_warmup_is_linear():
    # 2 epochs x 10 batches of warm-up: step k (from 0) gets (k + 1) / 20 of the rate.
    assert lrs("constant", epochs=(0, 0.5, 1.0, 3), warmup_epochs=2) == pytest.approx(
        [0.1 / 20, 0.1 * 6 / 20, 0.1 * 11 / 20, 0.1])


def test_plateau_halves_until_eta0_over_1024_then_stops():
    schedule = Schedule(ScheduleConfig(schedule="plateau"), 1.0, 100, 10)
    assert schedule.end_epoch(improved=True) is False and schedule.lr(3) == 1.0
    stops = [schedule.end_epoch(improved=False) for _ in range(11)]
    assert stops == [False] * 10 + [True]
    assert schedule.lr(0) == 2.0 ** -11
    copy = Schedule(ScheduleConfig(schedule="plateau"), 1.0, 100, 10)
    copy.load_state_dict(schedule.state_dict())
    assert copy.lr(0) == schedule.lr(0)
