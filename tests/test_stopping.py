"""The patience rule against iteration counts computed by hand from the tutorials' code."""

import math

import pytest

from striate.config import StopConfig, TrainConfig
from striate.training.learner import Evaluation
from striate.training.loop import Loop
from striate.training.stopping import EpochsWithoutImprovement, PatienceRule


class ScriptedLearner:
    """A learner whose validation errors are a script; it records what the loop asked of it."""

    def __init__(self, valid_errors, batches_per_epoch=4):
        self.valid_errors = list(valid_errors)
        self.batches_per_epoch = batches_per_epoch
        self.steps, self.validations, self.kept = 0, [], []

    def start_epoch(self, epoch): pass
    def train_step(self, batch, lr): self.steps += 1
    def end_epoch(self): return 0.0, 0.0
    def keep_best(self): self.kept.append(self.steps)
    def restore_best(self): pass

    def evaluate(self, split):
        if split == "test":
            return Evaluation(0.0, 0.25)
        self.validations.append(self.steps - 1)   # the iteration just finished
        return Evaluation(0.0, self.valid_errors.pop(0) if self.valid_errors else 1.0)


def run_loop(errors, batches_per_epoch=4, **stop):
    config = TrainConfig(stop=StopConfig(**stop))
    learner = ScriptedLearner(errors, batches_per_epoch)
    state = Loop(learner, config).run()
    return learner, state


def test_patience_rule_stops_where_the_tutorial_code_does():
    # patience 10 -> validation_frequency = min(4 batches, 10 // 2) = 4: validate at iter 3, 7, 11.
    # iter 3: 0.5 beats inf significantly    -> patience = max(10, 3 * 2) = 10
    # iter 7: 0.4 < 0.5 * 0.995              -> patience = max(10, 7 * 2) = 14
    # iter 11: 0.399 is not < 0.4 * 0.995   -> new best, patience stays 14
    # iter 14: patience <= iter              -> stop, 15 iterations done, before iter 15's check.
    learner, state = run_loop([0.5, 0.4, 0.399, 0.1], patience=10, epochs=100)
    assert learner.validations == [3, 7, 11]
    assert learner.steps == 15
    assert state.stopped_by == "patience"
    assert state.best["iteration"] == 12 and state.best["valid_error"] == 0.399
    assert state.best["test_error"] == 0.25


def test_patience_grows_with_significant_improvements():
    # Every validation improves by 10%: patience = 2 * iter keeps running ahead until max epochs.
    errors = [0.9 ** k for k in range(1, 100)]
    learner, state = run_loop(errors, patience=4, epochs=6)
    assert learner.validations == [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23]
    assert state.stopped_by == "max-epochs" and learner.steps == 24


def test_validation_frequency_is_min_of_batches_and_half_patience():
    assert PatienceRule(5000, 2, 0.995).validation_frequency(83) == 83
    assert PatienceRule(100, 2, 0.995).validation_frequency(83) == 50
    assert PatienceRule(1, 2, 0.995).validation_frequency(83) == 1


def test_epochs_without_improvement():
    rule = EpochsWithoutImprovement(2)
    for epoch, error in enumerate([0.5, 0.4, 0.45, 0.41]):
        rule.observe(epoch, error)
        rule.end_epoch()
    assert rule.should_stop(3) and rule.best_error == 0.4 and rule.best_iteration == 1
    learner, state = run_loop([0.5, 0.4, 0.45, 0.41, 0.3], early_stopping="epochs",
                              stop_epochs=2, epochs=50)
    assert state.stopped_by == "no-improvement" and state.epoch == 4


def test_state_round_trip_keeps_patience():
    rule = PatienceRule(10, 2, 0.995)
    rule.observe(30, 0.2)
    copy = PatienceRule(1, 1, 1)
    copy.load_state_dict(rule.state_dict())
    assert (copy.patience, copy.best_error, copy.best_iteration) == (60, 0.2, 30)
    assert not math.isfinite(PatienceRule(1, 1, 1).best_error)


@pytest.mark.parametrize("stop", [{"epochs": 0}, {"patience": -1}, {"improvement_threshold": 0},
                                  {"patience_increase": 0.5}])
def test_bad_stop_settings_are_refused(stop):
    from striate.errors import StriateError
    with pytest.raises(StriateError):
        StopConfig(**stop).check()


def test_epochs_that_never_validate_do_not_count_as_flat():
    # 4 batches per epoch, validation every 6 iterations: epochs 1 and 3 end without one.
    learner, state = run_loop([0.5, 0.5, 0.5, 0.5], early_stopping="epochs", stop_epochs=1,
                              validation_frequency=6, epochs=20)
    assert learner.validations[:2] == [5, 11]
    assert state.stopped_by == "no-improvement" and state.epoch == 3


def test_too_few_iterations_still_validate_once_at_the_last_one():
    learner, state = run_loop([0.3], patience=2, validation_frequency=5, epochs=3)
    assert state.stopped_by == "patience" and learner.steps == 3
    assert state.best["iteration"] == 3 and state.best["valid_error"] == 0.3


def test_validating_less_often_than_patience_allows_is_refused():
    # The tutorials' rule would stop before its first validation: nothing to keep or report.
    from striate.errors import StriateError
    StopConfig(patience=100, validation_frequency=100).check()
    StopConfig(early_stopping="epochs", patience=100, validation_frequency=500).check()
    with pytest.raises(StriateError, match="--validation-frequency 500 is longer than "
                                           "--patience 100"):
        StopConfig(patience=100, validation_frequency=500).check()


def test_validation_frequency_zero_validates_the_final_weights_once():
    learner, state = run_loop([0.2, 0.1], early_stopping="none", validation_frequency=0, epochs=3)
    assert learner.steps == 12 and learner.validations == [11]
    assert learner.kept == [12]       # the final weights are the ones kept and tested
    assert state.best["epoch"] == 3 and state.best["iteration"] == 12
    assert state.best["valid_error"] == 0.2 and state.best["test_error"] == 0.25
    assert all(math.isnan(row["valid_error"]) for row in state.history)


@pytest.mark.parametrize("settings, message", [
    ({"stop": {"validation_frequency": 0}}, "use --early-stopping none or validate more often"),
    ({"stop": {"validation_frequency": 0, "early_stopping": "epochs"}}, "--early-stopping epochs"),
    ({"stop": {"validation_frequency": 0, "early_stopping": "none"},
      "schedule": {"schedule": "plateau"}}, "--schedule plateau lowers the rate after validations"),
    ({"stop": {"validation_frequency": -1}}, "--validation-frequency must be a positive number"),
])
def test_validation_frequency_zero_is_refused_where_validations_steer_training(settings,
                                                                                 message):
    from striate.config import apply_mapping
    from striate.errors import StriateError
    config = apply_mapping(TrainConfig(), settings, "test")
    with pytest.raises(StriateError, match=message):
        config.check()
