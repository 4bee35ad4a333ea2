"""The two engines behind one interface, chosen with --engine.

Each engine module provides:
    versions() -> dict                            library versions for run.json
    check_model_options(name, options)            refuse unknown models/options before any work
    build_learner(config, dataset, splits, preprocess) -> learner for striate.training.loop
        (splits already preprocessed: float32 (N, *preprocess.output_shape) images)
    load_predictor(checkpoint, device) -> (predict_proba, metadata)
        predict_proba: (N, ...) float32 preprocessed inputs -> (N, classes) probabilities
Everything else (data, splits, the loop, runs, checkpoints, evaluate, predict) is shared.
"""

import importlib

from striate.config import ENGINES
from striate.errors import StriateError


def get_engine(name: str):
    if name not in ENGINES:
        raise StriateError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    return importlib.import_module(f"striate.{name}.engine")
