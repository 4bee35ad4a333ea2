"""The checkpoint format both engines share.

Weights are a safetensors file of float arrays named like torch's `state_dict` keys
(`conv1.weight`, ...), so a file opens anywhere without running code. Its metadata carries what is
needed to rebuild and use the model: model name and options, input shape, class names and the
resolved training config (which also says how inputs were preprocessed).

The resumable training state (optimizer moments, schedule and early-stopping state, RNG, history)
is a `torch.save` file that holds only tensors and plain containers, so it loads with
`torch.load(weights_only=True)`: it can never run code either.
"""

import json
from pathlib import Path

import numpy as np

from striate.errors import StriateError
from striate.files import atomic_path

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"


def save_weights(path: Path, tensors: dict[str, np.ndarray], meta: dict) -> None:
    from safetensors.numpy import save_file

    meta = {"format": FORMAT_VERSION, **meta}
    arrays = {name: np.ascontiguousarray(array) for name, array in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(arrays, str(tmp), metadata={"striate": json.dumps(meta)})


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
    if meta.get("format") != FORMAT_VERSION:
        raise StriateError(f"{path} uses checkpoint format {meta.get('format')}, this striate "
                           f"reads format {FORMAT_VERSION}; upgrade striate")
    return tensors, meta


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

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: Path) -> dict:
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        raise StriateError(f"cannot read training state {path} ({str(error).splitlines()[0]}); "
                           "it is missing or corrupt, so the run cannot be resumed") from None
