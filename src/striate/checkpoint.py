"""The checkpoint format both engines share.

Weights are a safetensors file of float arrays named exactly like torch's `state_dict` keys
(`conv1.weight`, ...) and nothing else, so a file opens anywhere without running code and loads
into the model with a strict `load_state_dict`. The input preprocessing fitted on the training
split is the run's `preprocess.safetensors`, beside the weights (one for the best, the last and
every snapshot: it is fitted once). The metadata carries what is needed to rebuild and use the
model: model name and options, input shape, class names, the preprocessing's kind and where its
file is, and the resolved training config. safetensors has no checksum of its own, so the
checkpoint also holds SHA-256 digests of the weights, of the preprocessing tensors and of the
metadata itself, which loading verifies: a modified or corrupted file is refused instead of
silently giving wrong predictions.

The resumable training state (optimizer moments, schedule and early-stopping state, RNG, history)
is a safetensors file too: its arrays as tensors, the nested dicts and lists around them as JSON
in the metadata. Neither engine needs torch to read it, and it can never run code either.
"""

import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from striate.errors import StriateError
from striate.files import atomic_write_bytes

FORMAT_VERSION = 3  # 3: preprocessing beside the weights, metadata digested
READABLE_FORMATS = (2, 3)  # 2: preprocessing tensors inside the weights file, as "preprocess.*"
V2_PREFIX = "preprocess."
WEIGHTS_FILE = "model.safetensors"  # the best validation point
LAST_WEIGHTS_FILE = "last.safetensors"  # the last epoch, for a user who prefers it
PREPROCESS_FILE = "preprocess.safetensors"  # the run's fitted preprocessing
META_KEY = "striate"  # safetensors metadata key: the checkpoint's metadata as JSON
META_DIGEST_KEY = "striate_sha256"  # the SHA-256 digest of that JSON text, as written
DIGESTS = "sha256"  # metadata key: {"weights": hex digest, "preprocess": hex digest}


@dataclass(frozen=True)
class SavedPreprocess:
    """A run's preprocessing file, as the checkpoints beside it refer to it."""
    path: Path
    digest: str  # tensor_digest of its tensors


def save_preprocess(path: Path, tensors: dict[str, np.ndarray], meta: dict) -> SavedPreprocess:
    """Write the fitted preprocessing (`meta`: its kind and settings, kept in the file too, so it
    describes itself) and return what the weights files record of it."""
    from safetensors.numpy import save

    arrays = {name: np.require(array, requirements="C") for name, array in tensors.items()}
    atomic_write_bytes(path, save(arrays, metadata={META_KEY: json.dumps(meta)}))
    return SavedPreprocess(path, tensor_digest(arrays))


def save_weights(path: Path, tensors: dict[str, np.ndarray], meta: dict,
                 preprocess: SavedPreprocess) -> None:
    """Write a model's weights with its metadata, referring to its preprocessing file."""
    from safetensors.numpy import save

    # np.require, not np.ascontiguousarray: the latter turns a 0-d array (a batch norm's
    # num_batches_tracked) into shape (1,).
    arrays = {name: np.require(array, requirements="C") for name, array in tensors.items()}
    # After **meta: metadata copied from another checkpoint never carries its references along.
    meta = {"format": FORMAT_VERSION, **meta,
            "preprocess_file": Path(os.path.relpath(preprocess.path, path.parent)).as_posix(),
            DIGESTS: {"weights": tensor_digest(arrays), "preprocess": preprocess.digest}}
    text = json.dumps(meta)
    # Serialised in memory first, so a full disk surfaces as an OSError of the atomic write.
    atomic_write_bytes(path, save(arrays, metadata={META_KEY: text,
                                                    META_DIGEST_KEY: text_digest(text)}))


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


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
    """(tensors, metadata) of a striate checkpoint: the model's weights, or with
    preprocessing=True the preprocessing's tensors, named as Preprocess names them (safetensors
    reads just the ones asked for)."""
    path = resolve_checkpoint(path)
    with readable(path) as handle:
        meta = checkpoint_metadata(handle.metadata() or {}, path)
        inside = meta["format"] == 2 and preprocessing   # format 2: "preprocess.*" in this file
        wanted = [] if preprocessing and not inside else \
            [name for name in handle.keys() if name.startswith(V2_PREFIX) == preprocessing]
        tensors = {name: handle.get_tensor(name) for name in wanted}
        check_dtypes(tensors)
    if preprocessing and not inside:
        tensors = read_preprocess_file(path, meta)
    check_digest(tensors, meta, path, preprocessing)
    if inside:
        tensors = {name[len(V2_PREFIX):]: tensor for name, tensor in tensors.items()}
    return tensors, meta


def check_dtypes(arrays: dict[str, np.ndarray]) -> None:
    """TypeError for an array of a dtype NumPy does not have itself: safetensors reads BF16
    tensors as ml_dtypes' bfloat16 where that package is installed, which neither engine
    computes with."""
    for array in arrays.values():
        if array.dtype.isbuiltin != 1:
            raise TypeError(f"data type {array.dtype.name!r} not understood")


@contextmanager
def readable(path: Path):
    """safe_open(path), its failures (and tensors of a dtype NumPy lacks, see check_dtypes)
    turned into one line."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="np") as handle:
            yield handle
    except (SafetensorError, OSError, ValueError, TypeError, AttributeError) as error:
        raise StriateError(f"{path} is not a readable safetensors checkpoint ({error}); "
                           "it may be truncated or corrupt: use another checkpoint") from None


def checkpoint_metadata(header: dict, path: Path) -> dict:
    """The metadata of a weights file's header, checked against its digest and for its fields."""
    try:
        text = header[META_KEY]
        meta = json.loads(text)
    except (KeyError, json.JSONDecodeError):
        raise StriateError(f"{path} has no striate metadata, so striate did not write it; use "
                           "a checkpoint written by `striate train`") from None
    except RecursionError:
        raise invalid(path, "its metadata is nested too deeply") from None
    if isinstance(meta, dict) and meta.get("format") in READABLE_FORMATS:
        check_metadata_digest(header.get(META_DIGEST_KEY), text, meta["format"], path)
    check_metadata(meta, path)
    return meta


def check_metadata_digest(digest, text: str, version: int, path: Path) -> None:
    """Format 2 files have no metadata digest; every later one must, and it must match."""
    if digest is None and version != 2:
        raise invalid(path, "its metadata has no digest")
    if digest is not None and digest != text_digest(text):
        raise modified(path, "metadata")


def read_preprocess_file(path: Path, meta: dict) -> dict[str, np.ndarray]:
    """The tensors of the preprocessing file a weights file refers to."""
    beside = path.parent / meta["preprocess_file"]
    if not beside.is_file():
        raise StriateError(f"{path} needs its preprocessing file {beside}, which is missing; "
                           f"keep {PREPROCESS_FILE} where training wrote it (copy the whole run "
                           "directory)")
    with readable(beside) as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        check_dtypes(tensors)
    return tensors


def check_digest(tensors: dict[str, np.ndarray], meta: dict, path, preprocessing: bool) -> None:
    group = "preprocess" if preprocessing else "weights"
    expected = meta.get(DIGESTS, {}).get(group)
    # Format 2 files from before the digests have none.
    if (expected is not None or meta["format"] != 2) and tensor_digest(tensors) != expected:
        raise modified(path, "preprocessing tensors" if preprocessing else "model weights")


def modified(path, what: str) -> StriateError:
    return StriateError(f"{path}: its {what} do not match the SHA-256 digest saved with them, "
                        "so the file was modified or corrupted after training; train the model "
                        "again or copy the run directory again from its original")


def invalid(path, problem: str) -> StriateError:
    return StriateError(f"{path} is not a valid striate checkpoint ({problem}); use a "
                        "checkpoint written by `striate train`")


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
        return invalid(path, problem)

    if not isinstance(meta, dict):
        raise refuse("metadata is not a mapping")
    if meta.get("format") not in READABLE_FORMATS:
        raise StriateError(f"{path} uses checkpoint format {meta.get('format')}, this striate "
                           f"reads formats {' and '.join(map(str, READABLE_FORMATS))}; use a "
                           "checkpoint of this version")
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
    beside = meta.get("preprocess_file")
    if meta["format"] != 2 and not (isinstance(beside, str) and
                                    PurePosixPath(beside).name == PREPROCESS_FILE):
        raise refuse(f"preprocess_file {beside!r:.60} does not name a {PREPROCESS_FILE}")


def check_tensors_match(tensors: dict[str, np.ndarray], expected: dict[str, tuple],
                        path, model: str) -> None:
    """Refuse weights whose names or shapes differ from the model they are loaded into, or
    that are not real numbers (complex weights would be cast, dropping their imaginary part)."""
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    common = set(expected) & set(tensors)
    wrong = sorted(name for name in common if tuple(tensors[name].shape) != tuple(expected[name]))
    not_real = sorted(name for name in common if tensors[name].dtype.kind not in "fiub")
    if missing or extra or wrong or not_real:
        detail = "; ".join(f"{label}: {', '.join(names[:3])}" for label, names in
                           (("missing", missing), ("unexpected", extra), ("wrong shape", wrong),
                            ("not real numbers", not_real)) if names)
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
        check_dtypes(arrays)
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
