"""The NumPy engine: every layer written out with its forward and backward pass.

The contract, the same for every layer (cs231n's):

    out, cache = name_forward(x, ...params, ...)
    dx, dw, db = name_backward(dout, cache)        # one gradient per input of the forward

Models keep a `params` dict of arrays and expose `loss(X, y=None)`: class scores when y is None,
else (loss, grads) with grads shaped like params. Update rules are `next_w, config = rule(w, dw,
config)`. The engine-independent loop (striate.training.loop) trains these models through
striate.numpy.learner, so data, splits, schedules, early stopping and run directories are shared
with the torch engine.
"""
