"""A NumPy model's arrays under checkpoint names, both ways.

For the models both engines have, the names and layouts are torch's state_dict keys (an affine
weight is stored as torch's (out, in), the transpose of cs231n's (in, out)), so a checkpoint
trained by either engine loads into the other. NumPy-only models store their params under their
own names.
"""

import numpy as np

from striate.checkpoint import check_tensors_match


def checkpoint_layout(model) -> dict[str, tuple[str, bool]]:
    """numpy name -> (checkpoint name, transposed?) for every array the checkpoint holds: torch's
    names for the models both engines have; the NumPy-only ones (svm, twolayer: params only)
    keep their own."""
    if hasattr(model, "torch_names"):
        return model.torch_names()
    return {name: (name, False) for name in model.params}


def to_checkpoint(model, state: dict) -> dict[str, np.ndarray]:
    """The arrays of a learner state ({"params", "bn_params"}) under checkpoint names."""
    arrays = {}
    for name, (stored, transposed) in checkpoint_layout(model).items():
        array = lookup(state, name)
        arrays[stored] = array.T if transposed else array
    return arrays


def lookup(state: dict, name: str) -> np.ndarray:
    if name.startswith("bn_params."):
        _, index, key = name.split(".")
        return state["bn_params"][int(index)][key]
    return state["params"][name]


def load_arrays(model, tensors: dict[str, np.ndarray], where, model_name: str) -> None:
    """Set the model's params and batch-norm statistics from checkpoint tensors, refusing
    tensors whose names or shapes are not the model's."""
    layout = checkpoint_layout(model)
    expected = {}
    for name, (stored, transposed) in layout.items():
        shape = lookup({"params": model.params, "bn_params": getattr(model, "bn_params", [])},
                       name).shape
        expected[stored] = shape[::-1] if transposed else shape
    check_tensors_match(tensors, expected, where, model_name)
    for name, (stored, transposed) in layout.items():
        array = tensors[stored].T if transposed else tensors[stored]
        if name.startswith("bn_params."):
            _, index, key = name.split(".")
            # np.require keeps num_batches_tracked 0-d, where ascontiguousarray makes it 1-d
            model.bn_params[int(index)][key] = np.require(array, requirements="C")
        else:
            model.params[name] = np.ascontiguousarray(array, dtype=model.params[name].dtype)
