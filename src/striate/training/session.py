"""A training run from start to finish: data, learner, run directory, loop, final metrics.

Everything that can fail on bad input (config, data, model options) is resolved before the run
directory is created, so a mistake never leaves a half-made run behind.
"""

import shutil
from dataclasses import dataclass, replace

import numpy as np

from striate.checkpoint import (LAST_WEIGHTS_FILE, PREPROCESS_FILE, WEIGHTS_FILE, load_state,
                                save_preprocess, save_state, save_weights)
from striate.config import TrainConfig, flag_name
from striate.data.dataset import Dataset
from striate.data.pipeline import RunData, prepare
from striate.engines import build_learner, get_engine
from striate.errors import StriateError
from striate.files import WriteError, remove_partial_writes
from striate.runs import TRAIN_STATE, RunDir
from striate.threads import use_threads
from striate.training.learner import Learner
from striate.training.loop import Loop, LoopState
from striate.training.tensorboard import (TensorBoardLog, confusion_counts, first_layer_filters,
                                          summary_writer_class)


def model_metadata(config: TrainConfig, data: RunData) -> dict:
    return {"engine": config.run.engine, "model": config.model.model,
            "model_args": config.model.model_args, "input_shape": list(data.dataset.input_shape),
            "class_names": list(data.dataset.class_names),
            "pixel_max": data.dataset.pixel_max, "preprocess": data.preprocess.to_checkpoint()[0],
            "dataset": data.dataset.name, "config": config.to_dict()}


@dataclass
class Outcome:
    """What a training session leaves: the run directory (None when nothing was written), the
    final metrics and per-epoch history (metrics.json and metrics.csv), and the learner, its
    model holding the best weights, with the data it learned from."""
    run: RunDir | None
    metrics: dict
    history: list[dict]
    learner: Learner
    data: RunData


def train(config: TrainConfig, resume: RunDir | None = None, show_progress: bool = False,
          echo=print, on_epoch=lambda row: None, dataset: Dataset | None = None, model=None,
          write: bool = True) -> Outcome:
    """Train, writing the run directory (unless write is False); on_epoch(row) sees each
    epoch's metrics.csv row once it is saved, and ends training after that epoch by returning
    True (a tuner may also stop the run by raising). show_progress: a bar on a terminal or in a
    notebook, else one echo line per epoch (a file, a pipe); echo takes the run's first line.

    config: resolved (TrainConfig.resolve()); train() never changes it. dataset: in memory, in
    place of the one config.data names; model: one of the engine's own to train as it is."""
    if config.resolve() != config:
        raise ValueError("train() takes a resolved config: pass config.resolve()")
    engine = get_engine(config.run.engine)
    use_threads(config.run.threads)
    if model is None:
        engine.check_model_options(config.model.model, config.model.model_args)
    if hasattr(engine, "warm_up"):   # the torch engine's imports, behind the data loading
        engine.warm_up(config)
    data = prepare(config.data, config.run.seed, dataset)
    learner = build_learner(config, data.inputs(), data.dataset.num_classes, data.preprocess,
                            model)
    if config.run.tensorboard:  # before the run directory exists: a missing package leaves none
        summary_writer_class()
    # torchrun's ranks, recorded in config.yaml
    config = replace(config, run=replace(config.run, nproc=learner.world.size))
    if not learner.world.is_main:  # rank 0 speaks for the job
        show_progress, echo = False, lambda text: None
    loop = Loop(learner, config, show_progress, echo)
    run = open_run(config, resume, loop, engine.versions(), data,
                   write and learner.world.is_main)
    echo(f"training {config.model.model} on {data.dataset.name} ({describe_splits(data)} "
         f"train/valid/test)" + (f" in {run.path}" if run else "")
         + (f" on {learner.world.size} processes" if learner.world.size > 1 else ""))
    if run is None:   # nothing to write, or a data-parallel rank other than 0 (rank 0 writes)
        state = train_unwritten(loop, on_epoch)
    else:
        try:
            state = train_written(loop, run, data, on_epoch)
        except Interrupted:
            if resume is None:   # never a resumed run: its earlier epochs are the user's
                remove_if_unstarted(run)
            raise
        finally:
            run.unlock()
    return Outcome(run, final_metrics(state), state.history, learner, data)


SNAPSHOTS = "epochs"  # --save-every's folder in the run directory


def snapshot_name(epoch: int) -> str:
    return f"epoch-{epoch:04d}.safetensors"


def describe_splits(data: RunData) -> str:
    return "/".join(str(len(data.splits[name])) for name in ("train", "valid", "test"))


def train_unwritten(loop: Loop, on_epoch) -> LoopState:
    world = loop.learner.world
    with np.errstate(over="ignore", invalid="ignore"), world.lost_contact():
        state = loop.run(on_epoch_end=lambda loop, improved: on_epoch(loop.state.history[-1]))
        world.leave()
    return state


def train_written(loop: Loop, run: RunDir, data: RunData, on_epoch) -> LoopState:
    """The loop, saving the best weights when validation improves and a resumable checkpoint
    after every epoch."""
    learner, config = loop.learner, loop.config
    meta = model_metadata(config, data)
    # Written at every start, a resume's too: the same data fit the same preprocessing.
    preprocess = save_preprocess(run / PREPROCESS_FILE, *reversed(data.preprocess.to_checkpoint()))

    def save_best() -> None:
        save_weights(run / WEIGHTS_FILE, learner.best_weights(), meta, preprocess)

    def save_current(paths: list) -> None:
        """The weights as they are now, copied off the learner once, into each of `paths`."""
        if paths:
            weights = learner.current_weights()
            for path in paths:
                save_weights(path, weights, meta, preprocess)

    def current_paths(loop: Loop) -> list:
        """last.safetensors (unless the epoch diverged: its weights are not finite), and the
        --save-every snapshot when the epoch is due one (plot and evaluate read it)."""
        paths = [] if loop.state.stopped_by == "diverged" else [run / LAST_WEIGHTS_FILE]
        if config.run.save_every and loop.state.epoch % config.run.save_every == 0:
            (run / SNAPSHOTS).mkdir(exist_ok=True)
            paths.append(run / SNAPSHOTS / snapshot_name(loop.state.epoch))
        return paths

    tensorboard = TensorBoardLog(run.path) if config.run.tensorboard else None

    def save_checkpoint(loop: Loop, improved: bool) -> bool:
        # train_state.safetensors last: it commits the epoch. A run killed before it is resumed
        # from the previous epoch, which rewrites the other files with the same contents.
        if improved:
            save_best()
        save_current(current_paths(loop))
        run.write_history(loop.state.history)
        save_state(run / TRAIN_STATE, loop.state_dict())
        if tensorboard:
            tensorboard.write(loop.state.history[-1], loop.epoch_steps)
        stop = on_epoch(loop.state.history[-1])
        if stop is True:   # saved as part of the epoch, so that a resume does not train on
            loop.state.stopped_by = "callback"
            save_state(run / TRAIN_STATE, loop.state_dict())
        return stop

    try:
        # Overflow is how a divergence starts: the loop reports it once, with advice, where
        # NumPy would warn at every operation of the NumPy engine.
        with np.errstate(over="ignore", invalid="ignore"), learner.world.lost_contact():
            state = loop.run(on_epoch_end=save_checkpoint)
        save_best()
        run.write_metrics(final_metrics(state))
        if tensorboard:
            write_final_tensorboard(tensorboard, loop, data, final_metrics(state))
        run.write_finish(state.elapsed)
        with learner.world.lost_contact():
            learner.world.leave()
    except KeyboardInterrupt:
        raise Interrupted(run) from None
    except WriteError as error:  # a full disk or a read-only directory
        raise StriateError(f"{error.problem}; free some space or make the directory writable, "
                           f"then {how_to_continue(run)}") from None
    finally:
        if tensorboard:
            tensorboard.close()
    return state


def write_final_tensorboard(tensorboard: TensorBoardLog, loop: Loop, data: RunData,
                            metrics: dict) -> None:
    """The settings with the final metrics, and pictures of the best weights (which the loop
    has restored): the first layer's filters and the test confusion matrix."""
    engine, model = get_engine(loop.config.run.engine), loop.learner.model
    classes = data.dataset.num_classes
    confusion = (confusion_counts(engine.predictor(model), data.inputs(["test"])["test"], classes)
                 if len(data.splits.get("test", ())) else None)
    tensorboard.write_hparams(loop.config.to_dict(), metrics)
    tensorboard.write_pictures(first_layer_filters(engine, model, data.dataset.input_shape),
                               confusion, list(data.dataset.class_names), loop.state.epoch)


def open_run(config: TrainConfig, resume: RunDir | None, loop: Loop, versions: dict,
             data: RunData, writes: bool = True) -> RunDir | None:
    """A new run directory, recording the data's fingerprint, or the resumed one with its last
    completed epoch loaded (refused if its data changed since); None for a process that does
    not write (a data-parallel rank other than 0), which has no use for the fingerprint."""
    if not writes:
        if resume is not None:
            restore(loop, resume)
        return None
    if resume is None:
        run = RunDir.create(config)
        run.lock()
        try:
            run.write_start(config, versions, data.fingerprint())
        except BaseException:   # a full disk: leave no empty run directory behind
            shutil.rmtree(run.path, ignore_errors=True)
            raise
        return run
    resume.lock()   # before restore, which tidies the files another process may be writing
    try:
        check_same_data(resume, data.fingerprint())
        restore(loop, resume)
        if resume.config() != config:
            resume.write_config(config)
    except BaseException:
        resume.unlock()
        raise
    return resume


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training; says what was kept and how to go on."""

    def __init__(self, run: RunDir):
        super().__init__()
        self.run = run

    def __str__(self) -> str:
        if not self.run.path.exists():
            return (f"interrupted before the first epoch ended; removed {self.run.path}, which "
                    "held nothing to resume: run the same command again to start over")
        return f"interrupted; {how_to_continue(self.run)}"


def remove_if_unstarted(run: RunDir) -> None:
    """Remove a run directory that this command created and that holds no completed epoch:
    --resume would refuse it, so it could only clutter --out-dir."""
    if not (run / TRAIN_STATE).is_file():
        shutil.rmtree(run.path, ignore_errors=True)


def how_to_continue(run: RunDir) -> str:
    if not (run / TRAIN_STATE).is_file():
        return f"start a new run ({run.path} holds no completed epoch to resume)"
    return (f"continue with `striate train --resume {run.path}` (its last completed epoch is "
            "saved)")


def check_same_data(run: RunDir, fingerprint: dict) -> None:
    """Refuse to resume on other data than the run began with (runs from before fingerprints
    have none to compare)."""
    recorded = run.info().get("data")
    if not isinstance(recorded, dict):
        return
    for name, now in fingerprint.items():
        then = recorded.get(name)
        if then != now:
            sizes = (f"{then.get('examples')} examples then, {now['examples']} now"
                     if isinstance(then, dict) and then.get("examples") != now["examples"]
                     else "other images or labels")
            raise StriateError(f"the data changed since {run.path} began: its {name} split "
                               f"holds {sizes}; resuming would mix two data sets in one run, "
                               "so restore the data or start a new run")


def restore(loop: Loop, run: RunDir) -> None:
    """Load the last completed epoch, and drop what a killed write left half-done."""
    if (run / "train_state.pt").is_file():  # the torch.save pickle, before the safetensors state
        raise StriateError(f"{run.path} was written by an earlier striate, whose training state "
                           "(train_state.pt) this version does not read; start a new run")
    if not (run / TRAIN_STATE).is_file():
        raise StriateError(f"{run.path} has no {TRAIN_STATE}: it stopped before its first "
                           "epoch ended, so there is nothing to resume; start a new run (the "
                           "same command without --resume)")
    remove_partial_writes(run.path)
    try:
        loop.load_state_dict(load_state(run / TRAIN_STATE))
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError, IndexError):
        raise StriateError(f"{run / TRAIN_STATE} does not match the run's config.yaml (edited "
                           "or from another run), so the run cannot be resumed; start a new "
                           "run") from None
    done, wanted = loop.state.epoch, loop.config.stop.epochs
    if wanted < done:   # config.yaml would say fewer epochs than metrics.csv holds
        raise StriateError(f"--epochs {wanted} is fewer than the {done} epochs {run.path} has "
                           f"completed; give --epochs {done} or more to continue it")


def final_metrics(state) -> dict:
    """The run's results; no clock readings (those are in run.json), so that the same seed and
    config give the same file."""
    best = state.best
    divergence = {"divergence": state.divergence} if state.divergence else {}
    # cs231n's grids set training beside validation accuracy: the gap is the overfitting.
    train_error = next((row["train_error"] for row in state.history
                        if row["epoch"] == best["epoch"]), None)
    return {"best_valid_error": best["valid_error"], "best_valid_loss": best["valid_loss"],
            "best_valid_accuracy": 1.0 - best["valid_error"], "best_train_error": train_error,
            "test_error": best["test_error"], "test_loss": best["test_loss"],
            "test_accuracy": 1.0 - best["test_error"], "best_epoch": best["epoch"],
            "best_iteration": best["iteration"], "epochs": state.epoch,
            "iterations": state.history[-1]["iteration"] if state.history else 0,
            "stopped_by": state.stopped_by, **divergence}


def divergence_advice(metrics: dict, config: TrainConfig, run: RunDir) -> str:
    """What a diverged run says: where the loss stopped being finite, the likely causes with
    the flags that address them, and what was kept."""
    where = metrics["divergence"]
    causes = [f"a learning rate too high (try --lr {config.optim.lr / 10:g}, or find one with "
              "`striate lr-find`)"]
    if config.data.preprocess in ("none", "mean-image"):
        causes.append("inputs on too large a scale (try --preprocess standardize)")
    kept = (f"the best weights, from epoch {metrics['best_epoch']}, are kept in "
            f"{run / WEIGHTS_FILE}" if metrics["best_epoch"] else
            f"no epoch improved on the initial weights, which {run / WEIGHTS_FILE} holds")
    return (f"training diverged: the {where['measured']} was {where['loss']} at epoch "
            f"{where['epoch']} (iteration {where['iteration']}); likely causes: "
            f"{' or '.join(causes)}; {kept}")


# What a resumed run may change: how long, where and how fast it runs, and what it shows.
RESUME_CHANGES = ("epochs", "device", "progress", "tensorboard", "nproc", "threads")


def resume_config(run: RunDir, overrides: dict) -> TrainConfig:
    """The run's own config, with only the settings that may change on resume overridden.

    train() writes the changes back to config.yaml once the run is restored, so that the file
    always describes the run."""
    config = run.config()
    settings = {leaf: section for section in config.sections().values() for leaf in vars(section)}
    for name, value in overrides.items():
        if getattr(settings[name], name) == value:
            continue
        if name not in RESUME_CHANGES:
            raise StriateError(f"--resume continues {run.path} with its own config.yaml; drop "
                               f"{flag_name(name)} (only "
                               f"{', '.join(flag_name(change) for change in RESUME_CHANGES)} "
                               "may change) or start a new run")
        setattr(settings[name], name, value)
    return config
