"""k-nearest neighbours, cs231n's first classifier, and its cross-validation over k.

    from striate.knn import KNearestNeighbor, cross_validate_k, run_knn
    classifier = KNearestNeighbor()
    classifier.train(X_train, y_train)                  # memorises
    dists = classifier.compute_distances_no_loops(X_test)
    y_pred = classifier.predict_labels(dists, k=5)      # or classifier.predict(X_test, k=5)
    cross_validate_k(X_train, y_train).best_k           # 5 folds over cs231n's k_choices
    run_knn("digits")                                   # `striate knn`: both, on a data set

The method names are the assignment's (cs231n/classifiers/k_nearest_neighbor.py), so its notebook
reads the same against this class. Distances are L2 in float64. predict computes them a chunk of
test rows at a time: the whole matrix for 10,000 test x 50,000 training images would be 4 GB.
"""

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from striate.data import Dataset, Preprocess, Split, load_dataset
from striate.data.pipeline import training_pool
from striate.errors import StriateError

K_CHOICES = (1, 3, 5, 8, 10, 12, 15, 20, 50, 100)  # the assignment's
NUM_FOLDS = 5
CHUNK_BYTES = 64 * 2 ** 20  # of one chunk's float64 distances; the partition's int64
                            # indices take as much again


class KNearestNeighbor:
    """A kNN classifier with L2 distance. Images may come as (N, D) rows or (N, C, H, W): each
    is flattened to a row of D values."""

    def train(self, X: np.ndarray, y: np.ndarray) -> None:
        """Memorise the training data: X (num_train, ...) and integer labels y (num_train,)."""
        X_train = rows(X, "X")                                   # (num_train, D) float64
        y_train = np.asarray(y)
        if y_train.shape != (len(X_train),) or not np.issubdtype(y_train.dtype, np.integer) \
                or (y_train < 0).any():
            raise StriateError(f"y must hold one class number 0, 1, ... per row of X "
                               f"({len(X_train)}), got an array of shape {y_train.shape} and "
                               f"dtype {y_train.dtype}")
        if not len(X_train):
            raise StriateError("X holds no training examples; give at least one")
        self.X_train, self.y_train = X_train, y_train.astype(np.int64)
        self.num_classes = int(self.y_train.max()) + 1
        # ||b||^2 of every training image, once rather than for every chunk of test images.
        self.squared_norms = np.einsum("ij,ij->i", X_train, X_train)     # (num_train,)

    def compute_distances_two_loops(self, X: np.ndarray) -> np.ndarray:
        """(num_test, num_train) L2 distances, one pair of images at a time."""
        X_test = self.test_rows(X)
        dists = np.zeros((len(X_test), len(self.X_train)))
        for i in range(len(X_test)):
            for j in range(len(self.X_train)):
                dists[i, j] = np.sqrt(np.sum((X_test[i] - self.X_train[j]) ** 2))
        return dists

    def compute_distances_one_loop(self, X: np.ndarray) -> np.ndarray:
        """(num_test, num_train) L2 distances, one test image against all training images."""
        X_test = self.test_rows(X)
        dists = np.zeros((len(X_test), len(self.X_train)))
        for i in range(len(X_test)):
            dists[i] = np.sqrt(np.sum((self.X_train - X_test[i]) ** 2, axis=1))
        return dists

    def compute_distances_no_loops(self, X: np.ndarray) -> np.ndarray:
        """(num_test, num_train) L2 distances as ||a||^2 - 2 a.b + ||b||^2, one matrix product."""
        X_test = self.test_rows(X)
        # In place: the (num_test, num_train) matrix is the memory predict's chunks bound.
        dists = X_test @ self.X_train.T                                # (num_test, num_train)
        dists *= -2.0
        dists += np.einsum("ij,ij->i", X_test, X_test)[:, None]       # ||a||^2, (num_test, 1)
        dists += self.squared_norms[None, :]                           # ||b||^2, (1, num_train)
        # Rounding can leave an identical pair a hair below zero, and sqrt of that is NaN.
        np.maximum(dists, 0.0, out=dists)
        return np.sqrt(dists, out=dists)

    def predict_labels(self, dists: np.ndarray, k: int = 1) -> np.ndarray:
        """(num_test,) labels from (num_test, num_train) distances: the most common label of
        the k nearest training images, ties broken by choosing the smaller label."""
        self.check_k(k)
        return vote(self.nearest_labels(dists, k), self.num_classes)

    def predict(self, X: np.ndarray, k: int = 1, num_loops: int = 0) -> np.ndarray:
        """(num_test,) predicted labels of X (num_test, ...); num_loops chooses the distance
        function (0, 1 or 2), all of which give the same labels."""
        return self.predict_each_k(X, [k], num_loops)[k]

    def predict_each_k(self, X: np.ndarray, k_choices: Sequence[int],
                       num_loops: int = 0) -> dict[int, np.ndarray]:
        """{k: (num_test,) labels} for every k, from one pass over the distances: the nearest
        max(k_choices) neighbours of each test image are found once and each k votes among
        its first k."""
        k_choices = checked_k_choices(k_choices)
        for k in k_choices:
            self.check_k(k)
        distances = self.distance_function(num_loops)
        X_test = self.test_rows(X)
        nearest = np.concatenate([self.nearest_labels(distances(chunk), max(k_choices))
                                  for chunk in self.chunks(X_test)])  # (num_test, max k)
        return {k: vote(nearest[:, :k], self.num_classes) for k in k_choices}

    def nearest_labels(self, dists: np.ndarray, k: int) -> np.ndarray:
        """(num_test, k) labels of each test image's k nearest training images, nearest first,
        the earlier training image first among equally distant ones."""
        return self.y_train[nearest_indices(dists, k)]

    def distance_function(self, num_loops: int):
        functions = {0: self.compute_distances_no_loops, 1: self.compute_distances_one_loop,
                     2: self.compute_distances_two_loops}
        if num_loops not in functions:
            raise StriateError(f"num_loops must be 0, 1 or 2, got {num_loops!r}")
        return functions[num_loops]

    def chunks(self, X_test: np.ndarray):
        """X_test in slices of rows whose distance matrix takes CHUNK_BYTES or less."""
        size = max(1, CHUNK_BYTES // (8 * len(self.X_train)))
        return (X_test[start:start + size] for start in range(0, len(X_test), size))

    def test_rows(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "X_train"):
            raise StriateError("the classifier has not been trained; call train(X, y) first")
        X_test = rows(X, "X")                                    # (num_test, D) float64
        if X_test.shape[1] != self.X_train.shape[1]:
            raise StriateError(f"X has {X_test.shape[1]} values per image, the training images "
                               f"{self.X_train.shape[1]}; give images of the training shape")
        return X_test

    def check_k(self, k: int) -> None:
        if not hasattr(self, "X_train"):
            raise StriateError("the classifier has not been trained; call train(X, y) first")
        if not is_whole(k) or not 1 <= k <= len(self.X_train):
            raise StriateError(f"k must be a whole number from 1 to the {len(self.X_train)} "
                               f"training images, got {k!r}")


def rows(X: np.ndarray, name: str) -> np.ndarray:
    """(N, ...) images as (N, D) float64 rows; float64 rows are used as they are, not copied
    (the training set is the largest array kNN holds)."""
    array = np.asarray(X)
    if array.ndim < 2 or not np.issubdtype(array.dtype, np.number):
        raise StriateError(f"{name} must be a numeric array of shape (N, D) or (N, C, H, W), got "
                           f"shape {array.shape} and dtype {array.dtype}")
    return array.reshape(len(array), -1).astype(np.float64, copy=False)


def nearest_indices(dists: np.ndarray, k: int) -> np.ndarray:
    """(N, k) columns of the k smallest distances of each row, by distance, then by column: the
    first k of a stable argsort, found by partitioning (5x faster than sorting whole rows)."""
    nearest = np.sort(np.argpartition(dists, k - 1, axis=1)[:, :k], axis=1)    # (N, k)
    distances = np.take_along_axis(dists, nearest, axis=1)                      # (N, k)
    # Of several columns as far as the k-th nearest, the partition keeps any; a stable sort of
    # those rows keeps the first.
    kth = distances.max(axis=1, keepdims=True)                                  # (N, 1)
    tied = (dists == kth).sum(axis=1) > (distances == kth).sum(axis=1)
    for row in np.flatnonzero(tied):
        nearest[row] = np.sort(np.argsort(dists[row], kind="stable")[:k])
        distances[row] = dists[row, nearest[row]]
    by_distance = np.argsort(distances, axis=1, kind="stable")
    return np.take_along_axis(nearest, by_distance, axis=1)


def vote(neighbour_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, k) labels -> (N,) the most common label of each row; argmax takes the first of equal
    counts, so a tie goes to the smaller label."""
    count = len(neighbour_labels)
    cells = np.arange(count)[:, None] * num_classes + neighbour_labels      # (N, k)
    votes = np.bincount(cells.ravel(), minlength=count * num_classes)
    return votes.reshape(count, num_classes).argmax(axis=1)


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays has no single truth value
class KCrossValidation:
    """The validation accuracy of each k on each fold (the assignment's k_to_accuracies)."""
    k_choices: tuple[int, ...]
    accuracies: np.ndarray   # (len(k_choices), num_folds): k_choices[i]'s accuracy on fold j

    @property
    def num_folds(self) -> int:
        return self.accuracies.shape[1]

    @property
    def k_to_accuracies(self) -> dict[int, list[float]]:
        return {k: [float(a) for a in row] for k, row in zip(self.k_choices, self.accuracies)}

    @property
    def means(self) -> np.ndarray:
        """(len(k_choices),) mean accuracy over the folds."""
        return self.accuracies.mean(axis=1)

    @property
    def stds(self) -> np.ndarray:
        """(len(k_choices),) np.std over the folds (ddof=0), the notebook's error bars."""
        return self.accuracies.std(axis=1)

    @property
    def best_k(self) -> int:
        """The k of the highest mean accuracy; the smaller k of equal means (argmax's first)."""
        by_k = np.argsort(self.k_choices, kind="stable")
        return int(np.asarray(self.k_choices)[by_k][np.argmax(self.means[by_k])])


def cross_validate_k(X_train: np.ndarray, y_train: np.ndarray,
                     k_choices: Sequence[int] = K_CHOICES,
                     num_folds: int = NUM_FOLDS) -> KCrossValidation:
    """The assignment's cross-validation: the training data are split in order into num_folds
    folds (np.array_split); each fold in turn is classified by the other folds, for every k."""
    k_choices = checked_k_choices(k_choices)
    if not is_whole(num_folds) or not 2 <= num_folds <= len(X_train):
        raise StriateError(f"num_folds must be from 2 to the {len(X_train)} training images, "
                           f"got {num_folds!r}")
    X_train_folds = np.array_split(np.asarray(X_train), num_folds)
    y_train_folds = np.array_split(np.asarray(y_train), num_folds)
    smallest = len(X_train) - max(len(fold) for fold in X_train_folds)
    if max(k_choices) > smallest:
        raise StriateError(f"k = {max(k_choices)} is more than the {smallest} images a fold is "
                           "classified by; choose smaller k or more training images")
    accuracies = np.zeros((len(k_choices), num_folds))
    for fold in range(num_folds):
        classifier = KNearestNeighbor()
        classifier.train(np.concatenate(X_train_folds[:fold] + X_train_folds[fold + 1:]),
                         np.concatenate(y_train_folds[:fold] + y_train_folds[fold + 1:]))
        predicted = classifier.predict_each_k(X_train_folds[fold], k_choices)
        for row, k in enumerate(k_choices):
            accuracies[row, fold] = np.mean(predicted[k] == y_train_folds[fold])
    return KCrossValidation(k_choices, accuracies)


def checked_k_choices(k_choices: Sequence[int]) -> tuple[int, ...]:
    """The k values, each once, in the order given; refused unless all are whole numbers >= 1."""
    if isinstance(k_choices, np.ndarray):
        k_choices = k_choices.tolist()
    values = list(k_choices) if isinstance(k_choices, (list, tuple, range)) else []
    if not values or not all(is_whole(k) and k >= 1 for k in values):
        raise StriateError(f"k_choices must be a list of whole numbers >= 1, got {k_choices!r}")
    return tuple(dict.fromkeys(int(k) for k in values))


def is_whole(value) -> bool:
    """An int or NumPy integer, not a bool (True would pass as k = 1)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True, eq=False)
class KnnResult:
    """run_knn's outcome: k chosen by cross-validation, then measured once on the test set."""
    dataset: str
    preprocess: str
    train_examples: int      # cross-validated over, and classifying the test images
    test_examples: int
    cross_validation: KCrossValidation
    best_k: int
    test_accuracy: float
    seconds: float           # wall time of the cross-validation and the test


def run_knn(data: Dataset | str = "digits", *, preprocess: str = "none",
            pca_components: int | None = None, whiten_eps: float = 1e-2,
            k_choices: Sequence[int] = K_CHOICES, num_folds: int = NUM_FOLDS,
            train_size: int | None = None, test_size: int | None = None,
            seed: int | None = None) -> KnnResult:
    """`striate knn`: cross-validate k on a data set's training images, then classify its test
    images with the best k and all the training images.

    data: a Dataset or a built-in data set's name. The training images are the data set's
    training split (and its own validation split, where it has one: cross-validation holds out
    its own). preprocess: a --preprocess kind, fitted on those training images; the default,
    none, is cs231n's raw pixels (scaled to [0, 1], which scales every distance alike).
    train_size, test_size: use the first N of each (the assignment's 5,000 and 500 of
    CIFAR-10); default all. seed: draw them at random by this seed instead, and shuffle the
    training images before they are dealt into folds."""
    dataset = load_dataset(data) if isinstance(data, str) else data
    if not isinstance(dataset, Dataset):
        raise StriateError(f"data must be a Dataset or a data set's name, not a "
                           f"{type(data).__name__}")
    if seed is not None and not (is_whole(seed) and 0 <= seed < 2 ** 32):
        raise StriateError(f"seed must be None or a whole number in [0, 2**32), got {seed!r}")
    started = time.perf_counter()
    train = subset(training_pool(dataset), train_size, seed, "train_size", "training")
    test = subset(dataset.test, test_size, seed, "test_size", "test")
    fitted = Preprocess.fit(preprocess, train.images, dataset.pixel_max, pca_components,
                            whiten_eps)
    X_train = fitted.apply(train.images, dataset.pixel_max)   # (N, *fitted.output_shape)
    cross_validation = cross_validate_k(X_train, train.labels, k_choices, num_folds)
    classifier = KNearestNeighbor()
    classifier.train(X_train, train.labels)
    best_k = cross_validation.best_k
    predicted = classifier.predict(fitted.apply(test.images, dataset.pixel_max), best_k)
    return KnnResult(dataset.name, preprocess, len(train), len(test), cross_validation, best_k,
                     float(np.mean(predicted == test.labels)), time.perf_counter() - started)


def subset(split: Split, size: int | None, seed: int | None, name: str, kind: str) -> Split:
    """The first `size` images of a split, or `size` drawn at random by `seed`."""
    if size is not None and not (is_whole(size) and 1 <= size <= len(split)):
        raise StriateError(f"{name} must be from 1 to the {len(split)} {kind} images, got "
                           f"{size!r}")
    order = np.arange(len(split)) if seed is None else \
        np.random.default_rng(seed).permutation(len(split))
    chosen = order[:size]
    return Split(split.images[chosen], split.labels[chosen])


def report(result: KnnResult) -> str:
    """`striate knn`'s table: each k's validation accuracy, mean ± std over the folds, the best
    marked, then the best k's test accuracy."""
    cv = result.cross_validation
    lines = [f"k-nearest neighbours on {result.dataset} (preprocess {result.preprocess}): "
             f"{result.train_examples} training images in {cv.num_folds} folds, "
             f"{result.test_examples} test images",
             f"{'k':>5}  validation accuracy (mean ± std over {cv.num_folds} folds)"]
    for k, mean, std in zip(cv.k_choices, cv.means, cv.stds):
        best = "  best" if k == result.best_k else ""
        lines.append(f"{k:>5}  {mean:.2%} ± {std:.2%}{best}")
    right = round(result.test_accuracy * result.test_examples)
    lines.append(f"best k = {result.best_k}: test accuracy {result.test_accuracy:.2%} ({right} "
                 f"of {result.test_examples}), in {result.seconds:.1f} s")
    return "\n".join(lines)
