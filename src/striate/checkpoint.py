"""The checkpoint format both engines share.

Weights are a safetensors file of float arrays named like torch's `state_dict` keys
(`conv1.weight`, ...), so a file opens anywhere without running code. Its metadata carries what is
needed to rebuild and use the model: model name and options, input shape, class names and the
resolved training config (which also says how inputs were preprocessed).

The resumable training state (optimizer moments, schedule and early-stopping state, RNG, history)
is a `torch.save` file that holds only tensors and plain containers, so it loads with
`torch.load(weights_only=True)`: it can never run code either.
"""

import io
import json
from pathlib import Path

import numpy as np

from striate.errors import StriateError
from striate.files import atomic_write_bytes

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"


def save_weights(path: Path, tensors: dict[str, np.ndarray], meta: dict) -> None:
    from safetensors.numpy import save

    meta = {"format": FORMAT_VERSION, **meta}
    arrays = {name: np.ascontiguousarray(array) for name, array in tensors.items()}
    # Serialised in memory first, so a full disk surfaces as an OSError of the atomic write.
    atomic_write_bytes(path, save(arrays, metadata={"striate": json.dumps(meta)}))


def resolve_checkpoint(run_or_checkpoint) -> Path:
    """Accept a run directory or a .safetensors file; return the weights file."""
    path = Path(run_or_checkpoint)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise StriateError(f"no checkpoint at {run_or_checkpoint}; give a run directory or its "
                           f"{WEIGHTS_FILE} (runs are listed under runs/)")
    return path


def load_weights(path) -> tuple[dict[str, np.ndarray], dict]:
    """Read (tensors, metadata) from a striate safetensors file, refusing anything else."""
    from safetensors import SafetensorError, safe_open

    path = resolve_checkpoint(path)
    try:
        with safe_open(str(path), framework="np") as handle:
            header = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise StriateError(f"{path} is not a readable safetensors checkpoint ({error}); "
                           "it may be truncated or corrupt: use another checkpoint") from None
    try:
        meta = json.loads(header["striate"])
    except (KeyError, json.JSONDecodeError):
        raise StriateError(f"{path} has no striate metadata; only checkpoints written by "
                           "striate can be loaded") from None
    check_metadata(meta, path)
    return tensors, meta


# What the metadata must hold, and of which type: the loaders index into it without asking again.
METADATA_TYPES = {"format": int, "model": str, "model_args": dict, "input_shape": list,
                  "class_names": list, "pixel_max": (int, float), "standardize": dict,
                  "config": dict}


def check_metadata(meta, path) -> None:
    def refuse(problem: str):
        return StriateError(f"{path} is not a valid striate checkpoint ({problem}); use a "
                            "checkpoint written by `striate train`")

    if not isinstance(meta, dict):
        raise refuse("metadata is not a mapping")
    if meta.get("format") != FORMAT_VERSION:
        raise StriateError(f"{path} uses checkpoint format {meta.get('format')}, this striate "
                           f"reads format {FORMAT_VERSION}; use a checkpoint of this version")
    for key, kind in METADATA_TYPES.items():
        if not isinstance(meta.get(key), kind):
            raise refuse(f"metadata field {key!r} is missing or of the wrong type")
    shape, names, stats = meta["input_shape"], meta["class_names"], meta["standardize"]
    if len(shape) != 3 or not all(isinstance(n, int) and n > 0 for n in shape):
        raise refuse(f"input_shape {shape} is not three positive sizes")
    if not names or not all(isinstance(name, str) for name in names):
        raise refuse("class_names is not a list of names")
    for key in ("mean", "std"):
        values = stats.get(key)
        if not (isinstance(values, list) and len(values) == shape[0]
                and all(isinstance(v, (int, float)) for v in values)):
            raise refuse(f"standardize.{key} does not give one number per input channel")
    if not all(v > 0 for v in stats["std"]):
        raise refuse("standardize.std has a value that is not positive")


def check_tensors_match(tensors: dict[str, np.ndarray], expected: dict[str, tuple],
                        path, model: str) -> None:
    """Refuse weights whose names or shapes differ from the model they are loaded into."""
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = sorted(name for name in set(expected) & set(tensors)
                   if tuple(tensors[name].shape) != tuple(expected[name]))
    if missing or extra or wrong:
        detail = "; ".join(f"{label}: {', '.join(names[:3])}" for label, names in
                           (("missing", missing), ("unexpected", extra), ("wrong shape", wrong))
                           if names)
        raise StriateError(f"{path} does not hold weights for this {model} model ({detail}); "
                           "use a checkpoint trained with the same --model and options")


def save_state(path: Path, state: dict) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_state(path: Path) -> dict:
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        raise StriateError(f"cannot read training state {path} ({str(error).splitlines()[0]}); "
                           "it is missing or corrupt, so the run cannot be resumed") from None
