"""Helpers shared by the test modules (conftest.py holds the fixtures)."""

import contextlib
import hashlib
import io
import json
import sys
from pathlib import Path

import numpy as np


def tree_snapshot(root: Path) -> dict:
    """Every file under root with its content hash: to prove that nothing was touched."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


def csv_column(run, column):
    rows = (run / "metrics.csv").read_text().splitlines()
    index = rows[0].split(",").index(column)
    return [float(row.split(",")[index]) for row in rows[1:]]


@contextlib.contextmanager
def interrupted_after_epochs(epochs: int):
    """Inside the block, training stops as on Ctrl-C right after its `epochs`-th checkpoint is
    saved (the train state, the epoch's last file)."""
    import striate.training.session as session

    real_save_state, saved = session.save_state, []

    def save_then_interrupt(path, state):
        real_save_state(path, state)
        saved.append(path)
        if len(saved) == epochs:
            raise KeyboardInterrupt

    session.save_state = save_then_interrupt
    try:
        yield
    finally:
        session.save_state = real_save_state


def resave(checkpoint, path: Path, change=lambda tensors, meta: None) -> Path:
    """The checkpoint of a run written again at `path` by save_weights after
    change(tensors, meta), with its preprocessing file beside it: a forged or altered copy."""
    from striate.checkpoint import (PREPROCESS_FILE, load_weights, read_checkpoint,
                                    save_preprocess, save_weights)

    tensors, meta = load_weights(checkpoint)
    preprocessing = read_checkpoint(checkpoint, preprocessing=True)[0]
    change(tensors, meta)
    saved = save_preprocess(Path(path).parent / PREPROCESS_FILE, preprocessing, meta["preprocess"])
    save_weights(Path(path), tensors, meta, saved)
    return Path(path)


def metrics_of(run: Path) -> dict:
    """The run's final figures: its metrics.json."""
    return json.loads((Path(run) / "metrics.json").read_text())


# A NumPy-engine MLP for 3 epochs on the bundled digits: seconds, and above 90% test accuracy.
NUMPY_MLP_ON_DIGITS = ("--dataset", "digits", "--progress", "off", "--engine", "numpy",
                       "--model", "mlp", "--epochs", "3")


def train_run(*args) -> Path:
    """`striate train ARGS...` in this process, as a user would run it: fails the test, showing
    the command's stderr, unless it exits 0, and returns the run directory the command names.

    What the command prints is passed on to sys.stdout and sys.stderr once it has finished, where
    pytest (and a test's capsys) see it; a `cli` fixture's later result does not include it."""
    from striate.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["train", *map(str, args)])
    finally:
        sys.stdout.write(out.getvalue())
        sys.stderr.write(err.getvalue())
    assert code == 0, f"`striate train {' '.join(map(str, args))}` exited {code}: {err.getvalue()}"
    [named] = [line for line in out.getvalue().splitlines() if line.startswith("run directory ")]
    return Path(named.removeprefix("run directory ").rpartition(": ")[0])


def assert_matches_torch(ours, theirs, inputs, *, rtol, atol, upstream=None, grad_rtol=None,
                         grad_atol=None):
    """A striate computation against the same function written in torch: its value and, unless
    `ours` leaves them out, the gradients torch autograd gives.

    ours: (value, grads) as striate computed them; grads holds the gradient of each input, in
        the order of `inputs` (or under the same names), or is None to compare values alone.
    theirs: the function in torch, called with one tensor per input (of the input's dtype), or
        with a dict of them when `inputs` is a dict (a model's params).
    upstream: dL/dvalue for a value that is not a scalar loss; autograd propagates it back.
    rtol, atol: the tolerances of the value, and of the gradients unless grad_rtol / grad_atol
        say otherwise (numpy.testing.assert_allclose's: |ours - torch's| <= atol + rtol |torch's|).
    """
    import torch

    value, grads = ours
    named = isinstance(inputs, dict)
    tensors = {key: torch.tensor(array, requires_grad=grads is not None)
               for key, array in (inputs.items() if named else enumerate(inputs))}
    with contextlib.nullcontext() if grads is not None else torch.no_grad():
        out = theirs(tensors) if named else theirs(*tensors.values())
    expected = out.detach().numpy()
    assert np.shape(value) == expected.shape, (np.shape(value), expected.shape)
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=atol)
    if grads is None:
        return
    out.backward(None if upstream is None else torch.tensor(upstream))
    expected_grads = {key: tensor.grad.numpy() for key, tensor in tensors.items()}
    grads = grads if named else dict(enumerate(grads))
    assert set(grads) == set(expected_grads), (sorted(grads), sorted(expected_grads))
    for key, grad in grads.items():
        assert grad.shape == expected_grads[key].shape, key
        np.testing.assert_allclose(grad, expected_grads[key], err_msg=f"gradient of {key}",
                                   rtol=rtol if grad_rtol is None else grad_rtol,
                                   atol=atol if grad_atol is None else grad_atol)
