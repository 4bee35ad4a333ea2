"""Input preprocessing, fitted on the training split only and applied identically everywhere.

Pixels are first scaled to [0, 1] by the data set's white level; the kind then decides the rest:

- `none`: the Deep Learning Tutorials' inputs, [0, 1] pixels unchanged.
- `scalar-mean`: the cs231n notes' `X -= np.mean(X)`, one number taken from every pixel.
- `standardize`: zero mean, unit variance per channel (striate's default).
- `mean-image`: cs231n's subtraction of the mean training image.
- `per-feature`: zero mean, unit variance per pixel and channel.
- `pca`: the scores of the top k principal components; the output is (k, 1, 1), not an image.
- `pca-whiten`: those scores divided by the component's standard deviation.
- `zca`: whitening rotated back into pixel space, so the output is still an image that conv nets,
  crops and flips make sense on.

With `deskew`, every image is first straightened (striate.data.deskew), in training and at
prediction alike, and the statistics are those of the straightened images.

Statistics come from the training images only, so validation and test numbers stay honest, and
they travel in the checkpoint as float32 tensors, so evaluate and predict apply exactly the
transform the model was trained on.
"""

import math
from dataclasses import dataclass

import numpy as np

from striate.config import PREPROCESSING as KINDS
from striate.data.deskew import deskew as deskew_images
from striate.errors import StriateError

PROJECTIONS = ("pca", "pca-whiten")  # outputs are component scores, not images
WHITENING = ("pca-whiten", "zca")    # divide by sqrt(eigenvalue + eps)
CHUNK = 8192          # images per pass: float64 statistics without a float64 copy of the whole set
CONSTANT_STD = 1e-6   # [0, 1] pixel units; a constant channel or pixel is divided by 1, not by ~0


def tensor_shapes(kind: str, input_shape, components: int | None) -> dict[str, tuple[int, ...]]:
    """The tensors `kind` keeps, by name and shape; `components` is k for pca and pca-whiten."""
    channels, height, width = input_shape
    dim = channels * height * width
    return {"none": {},
            "scalar-mean": {"mean": (1,)},
            "standardize": {"mean": (channels,), "std": (channels,)},
            "mean-image": {"mean": (dim,)},
            "per-feature": {"mean": (dim,), "std": (dim,)},
            "pca": {"mean": (dim,), "matrix": (dim, components)},
            "pca-whiten": {"mean": (dim,), "matrix": (dim, components)},
            "zca": {"mean": (dim,), "matrix": (dim, dim)}}[kind]


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays has no single truth value
class Preprocess:
    kind: str
    input_shape: tuple[int, int, int]  # (C, H, W) of the raw images
    tensors: dict[str, np.ndarray]     # float32, named and shaped as tensor_shapes() says
    eps: float = 0.0                   # whitening epsilon, squared [0, 1] pixel units; else 0
    deskew: bool = False               # straighten each image before the transform

    @classmethod
    def fit(cls, kind: str, images: np.ndarray, pixel_max: float, components: int | None = None,
            eps: float = 1e-2, deskew: bool = False) -> "Preprocess":
        """Fit `kind` on the training images (N, C, H, W); `components` is k for pca and
        pca-whiten (pca-whiten defaults to all of them), `eps` regularises whitening, `deskew`
        straightens every image first."""
        check_request(kind, images.shape, components, eps)
        if deskew:
            images = deskew_images(images)
        channels, height, width = (int(n) for n in images.shape[1:])
        if kind == "pca-whiten" and components is None:
            components = channels * height * width
        eps = float(eps) if kind in WHITENING else 0.0
        tensors = fit_tensors(kind, images, pixel_max, components, eps)
        return cls(kind, (channels, height, width),
                   {name: tensor.astype(np.float32) for name, tensor in tensors.items()}, eps,
                   deskew)

    @property
    def output_shape(self) -> tuple[int, int, int]:
        if self.kind in PROJECTIONS:
            return self.tensors["matrix"].shape[1], 1, 1
        return self.input_shape

    def is_image_like(self) -> bool:
        """False where the output is component scores: convolutions, crops and flips need pixels."""
        return self.kind not in PROJECTIONS

    def check_image_like(self, refusal: str) -> None:
        """Raise `refusal` (what needs pixels, and what to drop) where the output is component
        scores."""
        if not self.is_image_like():
            raise StriateError(refusal)

    def apply(self, images: np.ndarray, pixel_max: float) -> np.ndarray:
        """(N, C, H, W) pixels -> (N, *output_shape) float32, scaled to [0, 1] and transformed."""
        if tuple(images.shape[1:]) != self.input_shape:
            raise StriateError(f"images of shape {'x'.join(map(str, images.shape[1:]))} do not "
                               f"match the {'x'.join(map(str, self.input_shape))} images the "
                               f"{self.kind} preprocessing was fitted on; resize them to match")
        out = np.empty((len(images), *self.output_shape), np.float32)
        for start in range(0, len(images), CHUNK):
            # These exact float32 steps (true division, then -mean, /std) are the ones the
            # published figures were measured with; reordering them changes the last bits.
            chunk = images[start:start + CHUNK]
            if self.deskew:
                chunk = deskew_images(chunk)
            scaled = chunk.astype(np.float32) / np.float32(pixel_max)
            out[start:start + CHUNK] = self.transform(scaled)
        return out

    def transform(self, x: np.ndarray) -> np.ndarray:
        """(n, C, H, W) float32 in [0, 1] pixel units -> (n, *output_shape); x is overwritten."""
        if "mean" in self.tensors:
            x -= self.broadcast(self.tensors["mean"])
        if "std" in self.tensors:
            x /= self.broadcast(self.tensors["std"])
        if "matrix" in self.tensors:
            x = (x.reshape(len(x), -1) @ self.tensors["matrix"]).reshape(len(x), *self.output_shape)
        return x

    def broadcast(self, statistic: np.ndarray) -> np.ndarray:
        """A scalar (1,), per-channel (C,) or per-feature (D,) statistic, shaped to broadcast on
    (n, C, H, W)."""
        channels, height, width = self.input_shape
        if statistic.size == 1:
            return statistic.reshape(1, 1, 1, 1)
        if statistic.size == channels:
            return statistic.reshape(1, channels, 1, 1)
        return statistic.reshape(1, channels, height, width)

    def to_checkpoint(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-able metadata, tensors by name) for the run's preprocessing file."""
        components = self.tensors["matrix"].shape[1] if self.kind in PROJECTIONS else None
        meta = {"kind": self.kind, "input_shape": list(self.input_shape), "eps": self.eps,
                "components": components, "deskew": self.deskew}
        return meta, dict(self.tensors)

    @classmethod
    def from_checkpoint(cls, meta: dict, tensors: dict[str, np.ndarray],
                        where: str) -> "Preprocess":
        """Rebuild what to_checkpoint wrote, refusing anything inconsistent: the file is not
        trusted."""
        def refuse(problem: str) -> StriateError:
            return StriateError(f"{where} holds invalid preprocessing ({problem}); use a "
                                "checkpoint written by `striate train`")

        if not isinstance(meta, dict):
            raise refuse("its metadata is not a mapping")
        kind, shape, eps, components = (meta.get(key) for key in
                                        ("kind", "input_shape", "eps", "components"))
        deskew = meta.get("deskew", False)  # checkpoints from before deskewing have none
        if not isinstance(deskew, bool):
            raise refuse(f"deskew {deskew!r} is not true or false")
        if not (isinstance(kind, str) and kind in KINDS):
            raise refuse(f"unknown kind {kind!r}")
        if not (isinstance(shape, (list, tuple)) and len(shape) == 3 and all(map(is_count, shape))):
            raise refuse(f"input_shape {shape!r} is not three positive sizes")
        if not (is_number(eps) and math.isfinite(eps) and eps >= 0 and
                (eps > 0 or kind not in WHITENING)):
            raise refuse(f"eps {eps!r} is not a "
                         f"{'positive' if kind in WHITENING else 'non-negative'} number")
        dim = shape[0] * shape[1] * shape[2]
        if kind in PROJECTIONS and not (is_count(components) and components <= dim):
            raise refuse(f"components {components!r} is not a count from 1 to {dim}")
        if kind not in PROJECTIONS and components is not None:
            raise refuse(f"components {components!r} given for {kind}, which keeps all of them")
        ours = tensors
        expected = tensor_shapes(kind, shape, components)
        if set(ours) != set(expected):
            raise refuse(f"tensors {sorted(ours)} where {kind} needs {sorted(expected)}")
        for name, size in expected.items():
            array = ours[name]
            if not (isinstance(array, np.ndarray) and array.dtype == np.float32
                    and array.shape == size):
                raise refuse(f"{name} is not a float32 array of shape {size}")
            if not np.isfinite(array).all():
                raise refuse(f"{name} holds a value that is not finite")
        if "std" in ours and not (ours["std"] > 0).all():
            raise refuse("std holds a value that is not positive")
        return cls(kind, tuple(shape), {name: array.copy() for name, array in ours.items()},
                   float(eps), deskew)


def is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_request(kind: str, shape: tuple[int, ...], components, eps) -> None:
    """Refuse a fit asked for wrongly, naming the flag to change."""
    if kind not in KINDS:
        raise StriateError(f"unknown preprocessing {kind!r}; choose --preprocess from "
                           f"{', '.join(KINDS)}")
    dim = int(np.prod(shape[1:]))
    if components is not None and kind not in PROJECTIONS:
        why = "zca keeps all components" if kind == "zca" else f"{kind} has no components"
        raise StriateError(f"--pca-components applies only to --preprocess pca or pca-whiten "
                           f"({why}); drop --pca-components or change --preprocess")
    if kind == "pca" and components is None:
        raise StriateError(f"--preprocess pca needs --pca-components K, the number of principal "
                           f"components to keep (1 to {dim})")
    if components is not None and not (isinstance(components, (int, np.integer))
                                       and 1 <= components <= dim):
        raise StriateError(f"--pca-components {components} is outside 1..{dim}, the number of "
                           f"values in a {'x'.join(map(str, shape[1:]))} image; choose a count "
                           "in that range")
    if kind in WHITENING and not (eps > 0 and math.isfinite(eps)):
        raise StriateError(f"--whiten-eps {eps} is not a positive number; {kind} divides by "
                           "sqrt(eigenvalue + eps), so give a small positive value such as 0.01")
    if kind != "none" and shape[0] < 2:
        raise StriateError(f"--preprocess {kind} is fitted on the training split, which has "
                           f"{shape[0]} image(s); use at least 2 training images or "
                           "--preprocess none")


def fit_tensors(kind: str, images: np.ndarray, pixel_max: float, components: int | None,
                eps: float) -> dict[str, np.ndarray]:
    """The float64 tensors `kind` keeps, from the training images (N, C, H, W)."""
    if kind == "none":
        return {}
    if kind == "standardize":
        mean, std = moments(images, pixel_max, axes=(0, 2, 3))  # (C,) each
        return {"mean": mean, "std": std}
    if kind == "scalar-mean":  # channels hold equally many pixels: the mean of their means
        return {"mean": moments(images, pixel_max, axes=(0, 2, 3))[0].mean(keepdims=True)}
    mean, std = moments(images, pixel_max, axes=0)  # (C, H, W) each
    mean, std = mean.ravel(), std.ravel()           # (D,)
    if kind == "mean-image":
        return {"mean": mean}
    if kind == "per-feature":
        return {"mean": mean, "std": std}
    values, vectors = principal_axes(images, pixel_max, mean)
    if kind == "pca":
        matrix = vectors[:, :components]                                          # (D, k)
    elif kind == "pca-whiten":
        matrix = vectors[:, :components] / np.sqrt(values[:components] + eps)    # (D, k)
    else:  # zca: whiten along the principal axes, then rotate back into pixel space
        matrix = (vectors / np.sqrt(values + eps)) @ vectors.T                   # (D, D)
    return {"mean": mean, "matrix": matrix}


def scaled_chunks(images: np.ndarray, pixel_max: float):
    """The images as float64 [0, 1] pixels, CHUNK at a time: (n, C, H, W) each."""
    for start in range(0, len(images), CHUNK):
        yield images[start:start + CHUNK].astype(np.float64) / pixel_max


def moments(images: np.ndarray, pixel_max: float, axes) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) over `axes` of the [0, 1] pixels, in float64, summed a chunk at a time so
    that no float64 copy of the whole set is made; every kind's statistics come from here."""
    total, squares, count = 0.0, 0.0, 0
    for chunk in scaled_chunks(images, pixel_max):
        total = total + chunk.sum(axis=axes)
        squares = squares + (chunk ** 2).sum(axis=axes)
        count += chunk.size // total.size
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
    std[std < CONSTANT_STD] = 1.0
    return mean, std


def principal_axes(images: np.ndarray, pixel_max: float,
                   mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues (D,), eigenvectors (D, D) as columns) of the training covariance, largest
    first, each vector's largest entry positive so that a refit gives the same matrix."""
    scatter = np.zeros((mean.size, mean.size))                 # (D, D)
    for chunk in scaled_chunks(images, pixel_max):
        centred = chunk.reshape(len(chunk), -1) - mean         # (n, D); centring first keeps
        scatter += centred.T @ centred                         # the sums free of cancellation
    values, vectors = np.linalg.eigh(scatter / len(images))    # ascending
    values, vectors = values[::-1], vectors[:, ::-1]
    largest = np.abs(vectors).argmax(axis=0)
    vectors = vectors * np.sign(vectors[largest, np.arange(mean.size)])
    # Rounding can leave a zero eigenvalue slightly negative; whitening takes its square root.
    return np.maximum(values, 0.0), vectors
