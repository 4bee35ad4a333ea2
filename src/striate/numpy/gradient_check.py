"""Numerical gradients by centred differences, to check a backward pass against.

    (f(x + h) - f(x - h)) / 2h

has an error of order h ** 2, so with h = 1e-5 in float64 a correct analytic gradient agrees to
a relative error of about 1e-8 or better; a wrong one is off by far more.
"""

import numpy as np


def eval_numerical_gradient(f, x, verbose=False, h=1e-5):
    """The gradient of a scalar function f at x.

    f: x -> float; x: an array of any shape, changed one element at a time and restored.
    Returns grad: x's shape. verbose prints every element's index and derivative.
    """
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        grad[index] = centred_difference(f, x, index, h)
        if verbose:
            print(index, grad[index])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """The gradient at x of sum(df * f(x)), for an array-valued f: how a backward pass that
    receives the upstream gradient df should answer.

    f: x -> array of f's output shape; x: any shape; df: f(x)'s shape. Returns grad: x's shape.
    """
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        grad[index] = np.sum(centred_difference(f, x, index, h) * df)
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, *, seed=None):
    """Checks analytic_grad at num_checks random elements of x (cs231n's): for a gradient too
    costly to compute numerically in full.

    f: x -> float; x: any shape, changed one element at a time and restored; analytic_grad:
    x's shape. Prints, for each sampled element, cs231n's line
    "numerical: %f analytic: %f, relative error: %e", and returns the relative errors, a list
    of num_checks floats (|n - a| / (|n| + |a|), floored as rel_error's: 0, not nan, when both
    are 0). Elements are drawn with replacement, as cs231n's are; seed fixes which.
    """
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(num_checks):
        index = tuple(int(rng.integers(size)) for size in x.shape)
        numerical = float(centred_difference(f, x, index, h))
        analytic = float(analytic_grad[index])
        error = rel_error(numerical, analytic)
        print("numerical: %f analytic: %f, relative error: %e" % (numerical, analytic, error))
        errors.append(error)
    return errors


def centred_difference(f, x, index, h):
    """(f(x + h e_index) - f(x - h e_index)) / 2h, with x[index] restored afterwards.

    f's value may be a scalar or an array; an array is copied, since f may return a view of x.
    """
    original = x[index]
    try:
        x[index] = original + h
        f_plus = np.array(f(x), copy=True)
        x[index] = original - h
        f_minus = np.array(f(x), copy=True)
    finally:
        x[index] = original
    return (f_plus - f_minus) / (2 * h)


def rel_error(x, y):
    """max(|x - y| / max(1e-8, |x| + |y|)): the largest elementwise relative error, as a float."""
    x, y = np.asarray(x), np.asarray(y)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))
