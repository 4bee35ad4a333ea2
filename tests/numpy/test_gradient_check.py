"""The gradient-check tools themselves, on functions whose gradients are known in closed form."""

import numpy as np
import pytest

from striate.numpy.gradient_check import (eval_numerical_gradient,
                                          eval_numerical_gradient_array, grad_check_sparse,
                                          rel_error)


def test_numerical_gradient_of_a_cubic():
    x = np.random.default_rng(0).standard_normal((3, 4))
    before = x.copy()
    grad = eval_numerical_gradient(lambda x: np.sum(x ** 3), x)
    # The centred difference of x ** 3 is 3 x ** 2 + h ** 2: off by 1e-10, plus rounding.
    np.testing.assert_allclose(grad, 3 * x ** 2, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(x, before)     # every element restored exactly


def test_numerical_gradient_restores_x_when_f_fails():
    x = np.ones(3)

    def failing(values):
        raise RuntimeError(f"failed at {values}")

    with pytest.raises(RuntimeError):
        eval_numerical_gradient(failing, x)
    np.testing.assert_array_equal(x, np.ones(3))


def test_numerical_gradient_verbose_prints_each_element(capsys):
    eval_numerical_gradient(lambda x: float(np.sum(2 * x)), np.zeros(2), verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("(0,)")


def test_numerical_gradient_array_is_the_upstream_gradient_times_the_jacobian():
    rng = np.random.default_rng(1)
    x, a, df = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal((4, 5))
    grad = eval_numerical_gradient_array(lambda x: x @ a, x, df)
    assert rel_error(grad, df @ a.T) < 1e-8


def test_numerical_gradient_array_copes_with_f_returning_x_itself():
    x, df = np.arange(4.0), np.array([1.0, -2.0, 3.0, 0.5])
    grad = eval_numerical_gradient_array(lambda x: x, x, df)
    np.testing.assert_allclose(grad, df)


def test_rel_error_by_hand():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0, 2.0]), np.array([3.0, 2.0])) == pytest.approx(0.5)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0                 # no division by zero
    assert rel_error(np.array([1e-12]), np.array([0.0])) == pytest.approx(1e-4)   # the 1e-8 floor
    assert isinstance(rel_error(np.ones(2), np.ones(2)), float)


def test_a_one_percent_error_fails_the_check():
    x = np.random.default_rng(2).standard_normal(5) + 3
    grad = eval_numerical_gradient(lambda x: np.sum(x ** 2), x)
    assert rel_error(grad, 2 * x) < 1e-9
    assert rel_error(grad, 2 * x * 1.01) > 1e-3


def test_grad_check_sparse_passes_a_right_gradient_and_restores_x(capsys):
    x = np.random.default_rng(3).standard_normal((3, 4, 2))
    before = x.copy()
    errors = grad_check_sparse(lambda x: np.sum(x ** 3), x, 3 * x ** 2, seed=0)
    assert len(errors) == 10      # cs231n's num_checks default
    assert max(errors) < 1e-8
    np.testing.assert_array_equal(x, before)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10 and all(line.startswith("numerical: ") for line in lines)


def test_grad_check_sparse_prints_cs231ns_line(capsys):
    # f = 2.5 x: numerical 2.5, analytic 5 (twice too large): relative error 2.5 / 7.5 = 1/3.
    errors = grad_check_sparse(lambda x: float(2.5 * x[0]), np.array([0.7]), np.array([5.0]),
                               num_checks=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["numerical: 2.500000 analytic: 5.000000, relative error: 3.333333e-01"] * 2
    np.testing.assert_allclose(errors, [1 / 3, 1 / 3], rtol=1e-9)


def test_grad_check_sparse_samples_the_elements_a_seed_names(capsys):
    # Each element's derivative of sum(w * x) is its own weight w: the numbers printed say
    # which elements were sampled.
    w = np.arange(1.0, 13.0).reshape(3, 4)
    x = np.zeros((3, 4))
    first = grad_check_sparse(lambda x: np.sum(w * x), x, w, num_checks=20, seed=5)
    first_lines = capsys.readouterr().out
    again = grad_check_sparse(lambda x: np.sum(w * x), x, w, num_checks=20, seed=5)
    assert capsys.readouterr().out == first_lines and again == first
    sampled = {float(line.split()[1]) for line in first_lines.splitlines()}
    assert len(sampled) > 1 and sampled <= set(w.ravel())
    assert max(first) < 1e-9


def test_grad_check_sparse_of_a_zero_gradient_is_zero_not_nan(capsys):
    errors = grad_check_sparse(lambda x: 0.0, np.ones(3), np.zeros(3), num_checks=3)
    assert errors == [0.0, 0.0, 0.0]
    assert capsys.readouterr().out.splitlines()[0] == \
        "numerical: 0.000000 analytic: 0.000000, relative error: 0.000000e+00"
