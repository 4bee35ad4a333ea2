"""striate: the Deep Learning Tutorials and cs231n as real, fast, tested software.

    import striate
    data = striate.load_dataset("fashion-mnist")          # or Dataset.from_arrays / from_folder
    trained = striate.train("lenet", data, epochs=15)     # or any torch nn.Module
    trained.evaluate(data)["accuracy"]; trained.predict(images)
    trained.evaluate(data, tta=striate.TTA(mirror=True, shift=1))   # 10 views per image
    trained = striate.load("runs/<run>")
    striate.check("mlp", data); striate.find_lr("mlp", data).suggestion()
    striate.search("mlp", "digits", space={"lr": "loguniform(1e-3, 1)"}).best_params
    striate.cross_validate("mlp", "digits", folds=5).valid_accuracy
    striate.run_knn("digits").best_k                      # cs231n's kNN, k cross-validated
    striate.evaluate_ensemble(["runs/a", "runs/b"])      # the runs' averaged probabilities
    striate.export_model("runs/<run>", "onnx")           # preprocessing in the graph
    striate.predict_onnx("runs/<run>/model.onnx", ["seven.png"])
    striate.use_threads(1)                                # CPU threads (default: usable cores)

The names below are imported on first use (PEP 562), so that `import striate` and the
command line's `striate --help` stay fast.
"""

from striate.version import __version__

_PUBLIC = {
    "train": "striate.api", "load": "striate.api", "Trained": "striate.api",
    "check": "striate.api", "find_lr": "striate.api",
    "search": "striate.api", "cross_validate": "striate.api",
    "Study": "striate.tune.results", "CrossValidation": "striate.tune.results",
    "load_dataset": "striate.data", "Dataset": "striate.data", "Split": "striate.data",
    "describe_datasets": "striate.data", "describe_models": "striate.registry",
    "TrainConfig": "striate.config", "StriateError": "striate.errors",
    "KNearestNeighbor": "striate.knn", "cross_validate_k": "striate.knn", "run_knn": "striate.knn",
    "evaluate_ensemble": "striate.inference", "predict_onnx": "striate.inference",
    "export_model": "striate.export", "use_threads": "striate.threads",
    "TTA": "striate.training.learner",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'striate' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_PUBLIC[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
