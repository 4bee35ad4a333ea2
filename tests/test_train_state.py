"""The training state file: a safetensors file whose metadata holds the nested state as JSON."""

import json
import math

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import save

from striate.checkpoint import STATE_KEY, load_state, map_arrays, save_state
from striate.errors import StriateError


def round_trip(state, tmp_path):
    save_state(tmp_path / "state", state)
    return load_state(tmp_path / "state")


def test_everything_a_state_holds_comes_back_as_it_was(tmp_path):
    state = {
        "arrays": [np.arange(6, dtype=np.float32).reshape(2, 3), np.array(7, np.int64),
                   np.zeros((0, 4), np.float64), np.arange(5, dtype=np.uint8)[::2],
                   np.array([True, False])],
        "optimizer": {"state": {0: {"step": np.array(3.0, np.float32)}}, "betas": (0.9, 0.999)},
        "numbers": [0, -1, 2**127 + 1, 0.1, 1e-300, -0.0, math.inf, True, None, "text"],
        "$not-a-marker": {"$array": "0"},
    }
    loaded = round_trip(state, tmp_path)
    arrays = loaded.pop("arrays")
    for array, expected in zip(arrays, state.pop("arrays"), strict=True):
        assert array.dtype == expected.dtype and array.shape == expected.shape
        np.testing.assert_array_equal(array, expected)
        assert array.flags.writeable  # the NumPy update rules may update them in place
    assert loaded == state
    assert type(loaded["optimizer"]["betas"]) is tuple
    assert math.copysign(1, loaded["numbers"][5]) == -1


def test_nan_comes_back(tmp_path):
    assert math.isnan(round_trip({"loss": math.nan}, tmp_path)["loss"])


def test_the_file_is_safetensors_with_the_state_as_json(tmp_path):
    save_state(tmp_path / "state", {"w": np.ones(2, np.float32), "epoch": 3})
    with safe_open(str(tmp_path / "state"), framework="np") as handle:
        tree = json.loads(handle.metadata()[STATE_KEY])
        assert tree == {"w": {"$array": "0"}, "epoch": 3}
        np.testing.assert_array_equal(handle.get_tensor("0"), np.ones(2, np.float32))


def test_a_torch_state_converts_exactly(tmp_path):
    """What the torch learner does: tensors to arrays on save, back on load, dtype and 0-d shape
    kept (Adam's step, batch norm's num_batches_tracked)."""
    model = torch.nn.BatchNorm1d(3)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "rng": torch.get_rng_state()}
    saved = map_arrays(state, torch.Tensor, lambda tensor: tensor.detach().cpu().numpy())
    loaded = map_arrays(round_trip(saved, tmp_path), np.ndarray, torch.from_numpy)
    assert loaded["model"]["num_batches_tracked"].shape == ()
    assert loaded["model"]["num_batches_tracked"].dtype == torch.int64
    assert loaded["optimizer"]["state"][0]["step"].dtype == torch.float32
    torch.testing.assert_close(loaded, {**state, "model": dict(state["model"])}, rtol=0, atol=0)


def refusal(tmp_path, data: bytes) -> str:
    (tmp_path / "state").write_bytes(data)
    with pytest.raises(StriateError) as error:
        load_state(tmp_path / "state")
    message = str(error.value)
    assert "\n" not in message and message.endswith("the run cannot be resumed: start a new run")
    return message


def with_json(text: str) -> bytes:
    return save({"0": np.zeros(2)}, metadata={STATE_KEY: text})


def with_dtype(dtype: str, itemsize: int) -> bytes:
    """A safetensors file of one 1-element tensor of `dtype` (one NumPy may lack), by hand: an
    8-byte little-endian header length, the JSON header, the data."""
    header = json.dumps({"0": {"dtype": dtype, "shape": [1], "data_offsets": [0, itemsize]},
                         "__metadata__": {STATE_KEY: '{"w": {"$array": "0"}}'}}).encode()
    return len(header).to_bytes(8, "little") + header + bytes(itemsize)


@pytest.mark.parametrize("data, problem", [
    (b"\x80\x04K\x01.", "cannot read training state"),
    (b"", "cannot read training state"),
    (with_dtype("BF16", 2), "data type 'bfloat16' not understood"),
    (with_dtype("F8_E4M3", 1), "cannot read training state"),
    (save({"0": np.zeros(2)}), "its metadata holds no striate state"),
    (with_json("{"), "its metadata is not JSON"),
    (with_json('{"w": {"$array": "1"}}'), "a reference to an array it does not hold: '1'"),
    (with_json('{"w": {"$array": ["0"]}}'), "a reference to an array it does not hold"),
    (with_json('{"w": {"$array": "0", "x": 1}}'), "a marker among other keys: $array, x"),
    (with_json('{"w": {"$eval": "0"}}'), "an unknown marker '$eval'"),
    (with_json('{"w": {"$tuple": 3}}'), "an unknown marker '$tuple' or one without a list"),
    (with_json('{"w": {"$items": [[1]]}}'), "$items that are not [key, value] pairs"),
    (with_json('{"w": {"$items": [[[1], 2]]}}'), "unhashable type: 'list'"),
    (with_json("[" * 100_000 + "]" * 100_000), "its JSON is nested too deeply"),
    # deep enough for our decoder's recursion, not json's
    (with_json("[" * 700 + "]" * 700), "its JSON is nested too deeply"),
])
def test_anything_else_is_refused_in_one_line(tmp_path, data, problem):
    assert problem in refusal(tmp_path, data)


def test_a_missing_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(StriateError, match="cannot read training state .*missing or corrupt"):
        load_state(tmp_path / "absent")
