import math
import re

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


def test_a_fractional_warmup_ends_within_the_first_epoch():
    # 0.3 epochs x 10 batches = 3 steps of warm-up: 1/3, 2/3, then the full rate.
    assert lrs("constant", epochs=(0, 0.1, 0.2, 0.3, 0.9), warmup_epochs=0.3) == pytest.approx(
        [0.1 / 3, 0.1 * 2 / 3, 0.1, 0.1, 0.1])


def test_plateau_halves_until_eta0_over_1024_then_stops():
    schedule = Schedule(ScheduleConfig(schedule="plateau"), 1.0, 100, 10)
    assert schedule.end_epoch(improved=True) is False and schedule.lr(3) == 1.0
    stops = [schedule.end_epoch(improved=False) for _ in range(11)]
    assert stops == [False] * 10 + [True]
    assert schedule.lr(0) == 2.0 ** -11
    copy = Schedule(ScheduleConfig(schedule="plateau"), 1.0, 100, 10)
    copy.load_state_dict(schedule.state_dict())
    assert copy.lr(0) == schedule.lr(0)


def test_plateau_waits_n_flat_epochs_then_multiplies_by_the_factor():
    # The tutorials' form: "divide by 10 after 3 epochs without improvement".
    schedule = Schedule(ScheduleConfig(schedule="plateau", plateau_factor=0.1, plateau_epochs=3),
                        1.0, 100, 10)
    outcomes = [False, False, True, False, False, False, False]
    rates = []
    for improved in outcomes:
        schedule.end_epoch(improved)
        rates.append(schedule.lr(0))
    # flat, flat, new best (count restarts), flat x3 -> x0.1, then the new rate's own count
    assert rates == pytest.approx([1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.1])
    resumed = Schedule(ScheduleConfig(schedule="plateau", plateau_factor=0.1, plateau_epochs=3),
                       1.0, 100, 10)
    resumed.load_state_dict(schedule.state_dict())
    assert [resumed.end_epoch(False), resumed.lr(0)] == [False, pytest.approx(0.1)]
    assert [resumed.end_epoch(False), resumed.lr(0)] == [False, pytest.approx(0.01)]


@pytest.mark.parametrize("flags, message", [
    ({"plateau_factor": 1.0}, "--plateau-factor must be in (0, 1)"),
    ({"plateau_factor": 0.0}, "--plateau-factor must be in (0, 1)"),
    ({"plateau_epochs": 0}, "--plateau-epochs must be a positive number")])
def test_plateau_settings_are_checked(flags, message):
    from striate.errors import StriateError
    with pytest.raises(StriateError, match=re.escape(message)):
        ScheduleConfig(schedule="plateau", **flags).check()
