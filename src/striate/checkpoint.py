"""The checkpoint format both engines share.

Weights are a safetensors file of float arrays named like torch's `state_dict` keys
(`conv1.weight`, ...), so a file opens anywhere without running code. The input preprocessing
fitted on the training split travels in the same file (tensors named `preprocess.*`). The
metadata carries what is needed to rebuild and use the model: model name and options, input
shape, class names, the preprocessing's kind and the resolved training config. safetensors has
no checksum of its own, so the metadata also holds a SHA-256 digest of the weights and one of the
preprocessing tensors, which loading verifies: a modified or corrupted tensor is refused instead
of silently giving wrong predictions (files written before the digests existed still load).

The resumable training state (optimizer moments, schedule and early-stopping state, RNG, history)
is a safetensors file too: its arrays as tensors, the nested dicts and lists around them as JSON
in the metadata. Neither engine needs torch to read it, and it can never run code either.
"""

import hashlib
import json
from pathlib import Path

import numpy as np

from striate.errors import StriateError
from striate.files import atomic_write_bytes

PREPROCESS_PREFIX = "preprocess."  # tensor names of the preprocessing, apart from the weights
FORMAT_VERSION = 2  # 2: preprocessing tensors in the file, replacing format 1's per-channel stats
WEIGHTS_FILE = "model.safetensors"  # the best validation point
LAST_WEIGHTS_FILE = "last.safetensors"  # the last epoch, for a user who prefers it
DIGESTS = "sha256"  # metadata key: {"weights": hex digest, "preprocess": hex digest}


def save_weights(path: Path, tensors: dict[str, np.ndarray], meta: dict) -> None:
    from safetensors.numpy import save

    # np.require, not np.ascontiguousarray: the latter turns a 0-d array (a batch norm's
    # num_batches_tracked) into shape (1,).
    arrays = {name: np.require(array, requirements="C") for name, array in tensors.items()}
    digests = {digest_group(preprocessing): tensor_digest(select(arrays, preprocessing))
               for preprocessing in (False, True)}
    # After **meta: metadata copied from another checkpoint never carries its digests along.
    meta = {"format": FORMAT_VERSION, **meta, DIGESTS: digests}
    # Serialised in memory first, so a full disk surfaces as an OSError of the atomic write.
    atomic_write_bytes(path, save(arrays, metadata={"striate": json.dumps(meta)}))


def select(tensors: dict, preprocessing: bool) -> dict:
    """The preprocess.* tensors, or (preprocessing=False) the model's weights."""
    return {name: tensor for name, tensor in tensors.items()
            if is_preprocess(name) == preprocessing}


def is_preprocess(name: str) -> bool:
    return name.startswith(PREPROCESS_PREFIX)


def digest_group(preprocessing: bool) -> str:
    return "preprocess" if preprocessing else "weights"


def tensor_digest(tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 over each tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = np.require(tensors[name], requirements="C")
        digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array.data)
    return digest.hexdigest()


def resolve_checkpoint(run_or_checkpoint) -> Path:
    """Accept a run directory or a .safetensors file; return the weights file."""
    path = Path(run_or_checkpoint)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise StriateError(f"no checkpoint at {run_or_checkpoint}; give a run directory or its "
                           f"{WEIGHTS_FILE} (runs are listed under runs/)")
    return path


def read_checkpoint(path, preprocessing: bool) -> tuple[dict[str, np.ndarray], dict]:
    """(tensors, metadata) of a striate safetensors file: the model's weights, or with
    preprocessing=True only the preprocess.* tensors (safetensors reads just the ones asked for)."""
    from safetensors import SafetensorError, safe_open

    path = resolve_checkpoint(path)
    try:
        with safe_open(str(path), framework="np") as handle:
            header = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()
                       if is_preprocess(name) == preprocessing}
    except (SafetensorError, OSError, ValueError) as error:
        raise StriateError(f"{path} is not a readable safetensors checkpoint ({error}); "
                           "it may be truncated or corrupt: use another checkpoint") from None
    try:
        meta = json.loads(header["striate"])
    except (KeyError, json.JSONDecodeError):
        raise StriateError(f"{path} has no striate metadata, so striate did not write it; use "
                           "a checkpoint written by `striate train`") from None
    check_metadata(meta, path)
    check_digest(tensors, meta, path, preprocessing)
    return tensors, meta


def check_digest(tensors: dict[str, np.ndarray], meta: dict, path, preprocessing: bool) -> None:
    expected = meta.get(DIGESTS, {}).get(digest_group(preprocessing))
    if expected is not None and tensor_digest(tensors) != expected:
        what = "preprocessing tensors" if preprocessing else "model weights"
        raise StriateError(f"{path}: its {what} do not match the SHA-256 digest saved with "
                           "them, so the file was modified or corrupted after training; train "
                           "the model again or copy the checkpoint again from its original")


def load_weights(path) -> tuple[dict[str, np.ndarray], dict]:
    """Read (model tensors, metadata) from a striate safetensors file, refusing anything else."""
    return read_checkpoint(path, preprocessing=False)


def model_input_shape(meta: dict) -> tuple[int, int, int]:
    """What the network itself takes: the image, or (k, 1, 1) after a PCA projection."""
    components = meta["preprocess"].get("components")
    return (components, 1, 1) if components else tuple(meta["input_shape"])


# What the metadata must hold, and of which type: the loaders index into it without asking again.
METADATA_TYPES = {"format": int, "model": str, "model_args": dict, "input_shape": list,
                  "class_names": list, "pixel_max": (int, float), "preprocess": dict,
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
    shape, names = meta["input_shape"], meta["class_names"]
    if len(shape) != 3 or not all(isinstance(n, int) and n > 0 for n in shape):
        raise refuse(f"input_shape {shape} is not three positive sizes")
    if not names or not all(isinstance(name, str) for name in names):
        raise refuse("class_names is not a list of names")
    digests = meta.get(DIGESTS, {})
    if not (isinstance(digests, dict) and all(isinstance(d, str) for d in digests.values())):
        raise refuse(f"{DIGESTS} is not a mapping of digests")
    components = meta["preprocess"].get("components")
    if components is not None and not (isinstance(components, int) and components > 0):
        raise refuse("preprocess.components is not a positive number")


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


STATE_KEY = "striate_state"  # safetensors metadata key: the nested state as JSON
# How the JSON marks what it cannot hold itself. Plain objects never have keys starting with $:
# a dict with such keys, or with keys that are not strings, is saved as ITEMS.
ARRAY, TUPLE, ITEMS = "$array", "$tuple", "$items"


def save_state(path: Path, state: dict) -> None:
    """Write a nested state of dicts, lists, tuples, numbers, strings, None and numpy arrays as
    a safetensors file: the arrays as tensors, the rest as JSON in the metadata, where each array
    is a reference {"$array": name}. Nothing in it is ever unpickled or run when loaded."""
    from safetensors.numpy import save

    arrays = {}
    tree = json.dumps(to_json(state, arrays))
    # Serialised in memory first, so a full disk surfaces as an OSError of the atomic write.
    atomic_write_bytes(path, save(arrays, metadata={STATE_KEY: tree}))


def to_json(value, arrays: dict[str, np.ndarray]):
    """`value` made JSON-able, each array moved into `arrays` and replaced by a reference."""
    if isinstance(value, np.ndarray):
        name = str(len(arrays))
        arrays[name] = np.require(value, requirements="C")  # keeps 0-d arrays 0-d
        return {ARRAY: name}
    if isinstance(value, tuple):
        return {TUPLE: [to_json(item, arrays) for item in value]}
    if isinstance(value, list):
        return [to_json(item, arrays) for item in value]
    if isinstance(value, dict):
        if all(isinstance(key, str) and not key.startswith("$") for key in value):
            return {key: to_json(item, arrays) for key, item in value.items()}
        return {ITEMS: [[to_json(key, arrays), to_json(item, arrays)]
                        for key, item in value.items()]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a training state cannot hold a {type(value).__name__}")


def load_state(path: Path) -> dict:
    """The state save_state wrote, refusing in one line anything else."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="np") as handle:
            header = handle.metadata() or {}
            arrays = {name: handle.get_tensor(name) for name in handle.keys()}
    # TypeError, AttributeError: a dtype NumPy lacks (BF16: "data type 'bfloat16' not understood")
    except (SafetensorError, OSError, TypeError, AttributeError) as error:
        raise StriateError(f"cannot read training state {path} ({error}); it is missing or "
                           "corrupt, so the run cannot be resumed: start a new run") from None
    if STATE_KEY not in header:
        raise not_a_state(path, "its metadata holds no striate state")
    try:
        return from_json(json.loads(header[STATE_KEY]), arrays)
    except RecursionError:
        raise not_a_state(path, "its JSON is nested too deeply") from None
    except json.JSONDecodeError as error:
        raise not_a_state(path, f"its metadata is not JSON: {error}") from None
    except (ValueError, TypeError) as error:
        raise not_a_state(path, str(error)) from None


def from_json(value, arrays: dict[str, np.ndarray]):
    """The inverse of to_json; ValueError or TypeError for what to_json never writes."""
    if isinstance(value, list):
        return [from_json(item, arrays) for item in value]
    if not isinstance(value, dict):
        return value
    if not any(key.startswith("$") for key in value):
        return {key: from_json(item, arrays) for key, item in value.items()}
    if len(value) != 1:
        raise ValueError(f"a marker among other keys: {', '.join(sorted(value))[:60]}")
    (marker, content), = value.items()
    if marker == ARRAY:
        if not isinstance(content, str) or content not in arrays:
            raise ValueError(f"a reference to an array it does not hold: {content!r:.60}")
        return arrays[content]
    if not (marker in (TUPLE, ITEMS) and isinstance(content, list)):
        raise ValueError(f"an unknown marker {marker!r:.60} or one without a list")
    if marker == TUPLE:
        return tuple(from_json(item, arrays) for item in content)
    if not all(isinstance(pair, list) and len(pair) == 2 for pair in content):
        raise ValueError(f"{ITEMS} that are not [key, value] pairs")
    return {from_json(key, arrays): from_json(item, arrays) for key, item in content}


def not_a_state(path: Path, problem: str) -> StriateError:
    return StriateError(f"{path} is not a training state striate wrote ({problem}); the run "
                        "cannot be resumed: start a new run")


def map_arrays(value, kind: type, convert):
    """`value` with each leaf of type `kind` replaced by convert(leaf), through the dicts, lists
    and tuples a state is made of: how an engine turns its tensors into arrays and back."""
    if isinstance(value, kind):
        return convert(value)
    if isinstance(value, dict):
        return {key: map_arrays(item, kind, convert) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(map_arrays(item, kind, convert) for item in value)
    return value
