"""Models of a user's own, importable as own_models:Class (tests/ is on the Python path), for
the tests of --model package.module:Class and striate.train(module)."""

import numpy as np
from torch import nn


class TinyNet(nn.Module):
    """flatten - affine - relu - affine: the smallest useful classifier of images."""

    def __init__(self, input_shape, num_classes, width=16):
        super().__init__()
        channels, height, width_px = input_shape
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(channels * height * width_px, width),
                                  nn.ReLU(), nn.Linear(width, num_classes))

    def forward(self, x):                    # x: (N, C, H, W) -> (N, num_classes) logits
        return self.body(x)


class NotAModel:
    def __init__(self, input_shape, num_classes):
        self.shape = input_shape


class Softmax:
    """A NumPy-engine model written the cs231n way: params and loss(X, y=None)."""

    def __init__(self, input_shape, num_classes, seed=0):
        features = int(np.prod(input_shape))
        rng = np.random.default_rng(seed)
        self.params = {"W1": (0.01 * rng.standard_normal((features, num_classes))
                              ).astype(np.float32),
                       "b1": np.zeros(num_classes, np.float32)}

    def loss(self, X, y=None):
        X = X.reshape(len(X), -1)
        scores = X @ self.params["W1"] + self.params["b1"]              # (N, C)
        if y is None:
            return scores
        shifted = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(len(y)), y]).mean()
        dscores = probs
        dscores[np.arange(len(y)), y] -= 1
        dscores /= len(y)
        return float(loss), {"W1": X.T @ dscores, "b1": dscores.sum(axis=0)}


class WrongWidth(TinyNet):
    """Gives 3 scores per image, whatever the classes."""

    def __init__(self, input_shape, num_classes):
        super().__init__(input_shape, 3)


class NoParameters(nn.Module):
    def forward(self, x):
        return x.flatten(1)
