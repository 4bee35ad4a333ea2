"""Batch norm's running statistics in the NumPy layers are cs231n's: running_mean and running_var
start at zeros and average the batch mean and the BIASED batch variance with momentum 0.9. The
torch engine keeps torch's (running_var starts at ones, the unbiased variance).

The published figures are the notebooks' outputs (cs231n 2022): BatchNormalization.ipynb for
batchnorm_forward and the FullyConnectedNet with batch norm, ConvolutionalNetworks.ipynb for
spatial_batchnorm_forward. They are printed to 8 decimals, hence the 1e-8 tolerances.
"""

import numpy as np
import torch
import torch.nn.functional as F

from striate.numpy.layers import batchnorm_forward, spatial_batchnorm_forward
from striate.numpy.models import create_model
from test_cs231n_l2 import notebook_initial_losses


def two_layer_activations(X, W1, W2):
    """The notebooks' simulated two-layer forward pass: (N, D1) -> (N, D3)."""
    return np.maximum(0, X.dot(W1)).dot(W2)


def test_training_mode_means_and_stds_are_the_notebooks():
    np.random.seed(231)
    N, D1, D2, D3 = 200, 50, 60, 3
    X = np.random.randn(N, D1)
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    a = two_layer_activations(X, W1, W2)
    # "Before batch normalization"
    np.testing.assert_allclose(a.mean(axis=0), [-2.3814598, -13.18038246, 1.91780462], atol=1e-8)
    np.testing.assert_allclose(a.std(axis=0), [27.18502186, 34.21455511, 37.68611762], atol=1e-8)
    # "After batch normalization (gamma=1, beta=0)": means ~1e-17, stds [0.99999999 1. 1.]
    a_norm, _ = batchnorm_forward(a, np.ones(D3), np.zeros(D3), {"mode": "train"})
    np.testing.assert_allclose(a_norm.mean(axis=0), 0, atol=1e-15)
    np.testing.assert_allclose(a_norm.std(axis=0), [0.99999999, 1.0, 1.0], atol=1e-8)
    # "After batch normalization (gamma= [1. 2. 3.] , beta= [11. 12. 13.] )"
    a_norm, _ = batchnorm_forward(a, np.array([1.0, 2.0, 3.0]), np.array([11.0, 12.0, 13.0]),
                                  {"mode": "train"})
    np.testing.assert_allclose(a_norm.mean(axis=0), [11.0, 12.0, 13.0], atol=1e-8)
    np.testing.assert_allclose(a_norm.std(axis=0), [0.99999999, 1.99999999, 2.99999999],
                               atol=1e-8)


def test_test_mode_after_50_training_passes_is_the_notebooks():
    # Only cs231n's running statistics give these figures: torch's (running_var from ones,
    # unbiased) normalize with other variances.
    np.random.seed(231)
    N, D1, D2, D3 = 200, 50, 60, 3
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    bn_param, gamma, beta = {"mode": "train"}, np.ones(D3), np.zeros(D3)
    for _ in range(50):
        batchnorm_forward(two_layer_activations(np.random.randn(N, D1), W1, W2), gamma, beta,
                          bn_param)
    bn_param["mode"] = "test"
    a_norm, _ = batchnorm_forward(two_layer_activations(np.random.randn(N, D1), W1, W2), gamma,
                                  beta, bn_param)
    # "After batch normalization (test-time)"
    np.testing.assert_allclose(a_norm.mean(axis=0), [-0.03927354, -0.04349152, -0.10452688],
                               atol=1e-8)
    np.testing.assert_allclose(a_norm.std(axis=0), [1.01531428, 1.01238373, 0.97819988],
                               atol=1e-8)


def test_spatial_test_mode_after_50_training_passes_is_the_notebooks():
    np.random.seed(231)
    N, C, H, W = 10, 4, 11, 12
    bn_param, gamma, beta = {"mode": "train"}, np.ones(C), np.zeros(C)
    for _ in range(50):
        spatial_batchnorm_forward(2.3 * np.random.randn(N, C, H, W) + 13, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    a_norm, _ = spatial_batchnorm_forward(2.3 * np.random.randn(N, C, H, W) + 13, gamma, beta,
                                          bn_param)
    # "After spatial batch normalization (test-time)"
    np.testing.assert_allclose(a_norm.mean(axis=(0, 2, 3)),
                               [-0.08034406, 0.07562881, 0.05716371, 0.04378383], atol=1e-8)
    np.testing.assert_allclose(a_norm.std(axis=(0, 2, 3)),
                               [0.96718744, 1.0299714, 1.02887624, 1.00585577], atol=1e-8)


def test_fully_connected_net_with_batchnorm_gives_the_notebooks_initial_losses():
    # BatchNormalization.ipynb's check of FullyConnectedNet(..., normalization='batchnorm')
    # prints "Initial loss: 2.2611955101340957" and "6.996533220108303"
    np.testing.assert_allclose(notebook_initial_losses(normalization="batchnorm"),
                               [2.2611955101340957, 6.996533220108303], rtol=0, atol=1e-12)


def test_models_start_both_running_statistics_at_zero():
    model = create_model("fcnet", (1, 4, 4), 3, hidden_dims=(5,), batchnorm=True)
    [bn_param] = model.bn_params
    np.testing.assert_array_equal(bn_param["running_mean"], np.zeros(5))
    np.testing.assert_array_equal(bn_param["running_var"], np.zeros(5))


def test_running_var_differs_from_torchs_by_the_start_and_the_bessel_factor():
    """What is comparable with torch: the normalized output and the running mean are equal; the
    running variance is torch's with the biased batch variance, N / (N - 1) times smaller, and
    with the start value each has (cs231n 0, torch 1)."""
    rng = np.random.default_rng(3)
    N, D = 6, 4
    x = rng.standard_normal((N, D)) * 2 + 1
    gamma, beta = rng.standard_normal(D), rng.standard_normal(D)
    bn_param = {"mode": "train"}
    out, _ = batchnorm_forward(x, gamma, beta, bn_param)
    running_mean = torch.zeros(D, dtype=torch.float64)     # torch's start values
    running_var = torch.ones(D, dtype=torch.float64)
    expected = F.batch_norm(torch.tensor(x), running_mean, running_var, torch.tensor(gamma),
                            torch.tensor(beta), training=True, momentum=0.1, eps=1e-5)
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(bn_param["running_mean"], running_mean.numpy(), rtol=1e-12)
    biased, unbiased = x.var(axis=0), x.var(axis=0, ddof=1)
    np.testing.assert_allclose(bn_param["running_var"], 0.9 * 0 + 0.1 * biased, rtol=1e-12)
    np.testing.assert_allclose(running_var.numpy(), 0.9 * 1 + 0.1 * unbiased, rtol=1e-12)
    np.testing.assert_allclose(unbiased, biased * N / (N - 1), rtol=1e-12)
