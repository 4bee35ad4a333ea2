"""The gradient-check tools themselves, on functions whose gradients are known in closed form."""

import numpy as np
import pytest

from striate.numpy.gradient_check import (eval_numerical_gradient,
                                          eval_numerical_gradient_array, rel_error)


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
