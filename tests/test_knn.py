"""k-nearest neighbours (striate.knn) against scikit-learn's brute-force classifier and
cross-validation, the assignment's checks (the three distance functions agree; vote ties go to
the smaller label), and `striate knn` on the bundled digits."""

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

import striate
import striate.knn
from striate.knn import K_CHOICES, KNearestNeighbor, cross_validate_k, run_knn
from striate.viz.knn import k_cross_validation_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def digits():
    """(X_train, y_train, X_test, y_test): the bundled digits as rows of [0, 1] pixels."""
    data = striate.load_dataset("digits")
    rows = [split.images.reshape(len(split), -1) / data.pixel_max for split in (data.train,
                                                                                data.test)]
    return rows[0], data.train.labels, rows[1], data.test.labels


@pytest.fixture(scope="module")
def classifier(digits):
    X_train, y_train, _, _ = digits
    trained = KNearestNeighbor()
    trained.train(X_train, y_train)
    return trained


def relative_frobenius(a: np.ndarray, b: np.ndarray) -> float:
    return np.linalg.norm(a - b, ord="fro") / np.linalg.norm(b, ord="fro")


def test_the_three_distance_functions_agree_on_real_valued_images():
    rng = np.random.default_rng(0)
    X_train, X_test = rng.normal(size=(200, 3, 8, 8)), rng.normal(size=(40, 3, 8, 8))
    classifier = KNearestNeighbor()
    classifier.train(X_train, rng.integers(0, 10, 200))
    two = classifier.compute_distances_two_loops(X_test)
    one = classifier.compute_distances_one_loop(X_test)
    none = classifier.compute_distances_no_loops(X_test)
    assert two.shape == (40, 200) and two.dtype == np.float64
    assert relative_frobenius(one, two) < 1e-9 and relative_frobenius(none, two) < 1e-9
    # The oracle: scipy's pairwise Euclidean distances.
    from scipy.spatial.distance import cdist
    expected = cdist(X_test.reshape(40, -1), X_train.reshape(200, -1))
    np.testing.assert_allclose(none, expected, rtol=1e-9)


def test_the_three_distance_functions_agree_on_digits(classifier, digits):
    X_test = digits[2][:30]
    two = classifier.compute_distances_two_loops(X_test)
    assert relative_frobenius(classifier.compute_distances_one_loop(X_test), two) < 1e-9
    assert relative_frobenius(classifier.compute_distances_no_loops(X_test), two) < 1e-9
    # An image's distance to itself is 0, not the NaN of sqrt(-1e-16).
    assert classifier.compute_distances_no_loops(digits[0][:5])[np.arange(5), np.arange(5)] \
        .tolist() == [0.0] * 5


def test_a_tied_vote_goes_to_the_smaller_label():
    classifier = KNearestNeighbor()
    classifier.train(np.array([[0.0], [1.0], [3.0], [4.0]]), np.array([7, 2, 7, 2]))
    dists = classifier.compute_distances_no_loops(np.array([[2.0], [0.5], [1.2]]))
    # Each test point's 2 (or 4) nearest hold one 7 and one 2 (two of each): the 2 wins.
    assert classifier.predict_labels(dists, k=2).tolist() == [2, 2, 2]
    assert classifier.predict_labels(dists, k=4).tolist() == [2, 2, 2]
    # Without a tie the majority wins, whichever label is smaller; equally distant training
    # images are taken in their order (a stable sort).
    assert classifier.predict_labels(dists, k=3).tolist() == [7, 7, 7]
    assert classifier.predict_labels(dists, k=1).tolist() == [2, 7, 2]


def test_the_nearest_are_the_first_k_of_a_stable_sort_however_many_ties():
    rng = np.random.default_rng(0)
    for _ in range(200):
        rows, columns = rng.integers(1, 20), rng.integers(1, 40)
        dists = rng.integers(0, 4, (rows, columns)).astype(np.float64)   # ties everywhere
        k = int(rng.integers(1, columns + 1))
        np.testing.assert_array_equal(striate.knn.nearest_indices(dists, k),
                                      np.argsort(dists, axis=1, kind="stable")[:, :k])


def test_every_num_loops_predicts_the_same_labels(classifier, digits):
    X_test = digits[2][:20]
    assert classifier.predict(X_test, k=3, num_loops=2).tolist() == \
        classifier.predict(X_test, k=3, num_loops=1).tolist() == \
        classifier.predict(X_test, k=3, num_loops=0).tolist()


def test_predict_in_chunks_gives_the_labels_of_the_whole_matrix(classifier, digits,
                                                                  monkeypatch):
    X_test = digits[2]
    whole = classifier.predict_labels(classifier.compute_distances_no_loops(X_test), k=5)
    # Chunks of 3 test rows (3 x 1438 float64 distances fit in 40,000 bytes; 4 rows do not).
    monkeypatch.setattr(striate.knn, "CHUNK_BYTES", 40_000)
    assert len(list(classifier.chunks(X_test))) == 120
    np.testing.assert_array_equal(classifier.predict(X_test, k=5), whole)


def test_one_nearest_neighbour_classifies_digits_as_expected(classifier, digits):
    """1-NN on the 8x8 digits: 353 of the 359 test images (98.3%), where a classifier that
    took the farthest neighbour, or ignored the distances, would be near 10%."""
    predicted = classifier.predict(digits[2], k=1)
    assert int((predicted == digits[3]).sum()) == 353


@pytest.mark.parametrize("k", [1, 5])
def test_predictions_are_scikit_learns_except_at_tied_distances(classifier, digits, k):
    X_train, y_train, X_test, _ = digits
    ours = classifier.predict(X_test, k=k)
    theirs = KNeighborsClassifier(k, algorithm="brute").fit(X_train, y_train).predict(X_test)
    nearest = np.sort(classifier.compute_distances_no_loops(X_test), axis=1)
    # Where the k-th and (k+1)-th neighbour are equally far, which is nearer is arbitrary.
    tied = nearest[:, k - 1] == nearest[:, k]
    assert tied.mean() < 0.2
    np.testing.assert_array_equal(ours[~tied], theirs[~tied])


def test_cross_validation_folds_as_the_assignment_and_scores_as_scikit_learn(digits):
    X_train, y_train, _, _ = digits
    result = cross_validate_k(X_train, y_train)
    assert result.k_choices == K_CHOICES and result.accuracies.shape == (10, 5)
    # np.array_split in order is KFold without shuffling: 1438 images -> 288, 288, 288, 287, 287.
    for row, k in enumerate(K_CHOICES):
        expected = cross_val_score(KNeighborsClassifier(k, algorithm="brute"), X_train,
                                   y_train, cv=KFold(5))
        np.testing.assert_allclose(result.accuracies[row], expected, atol=1 / 287 + 1e-12)
    assert result.k_to_accuracies[1] == result.accuracies[0].tolist()
    np.testing.assert_allclose(result.stds, [np.std(v) for v in result.k_to_accuracies.values()])


def test_the_best_k_is_the_highest_mean_and_the_smaller_k_on_a_tie():
    accuracies = np.array([[0.75, 0.5], [0.875, 0.375], [0.5, 0.25]])  # means .625, .625, .375
    assert striate.knn.KCrossValidation((5, 3, 1), accuracies).best_k == 3
    assert striate.knn.KCrossValidation((1, 3, 5), accuracies).best_k == 1


def test_run_knn_on_digits_gives_the_documented_figures():
    result = striate.run_knn("digits")
    assert result.train_examples == 1438 and result.test_examples == 359
    assert [f"{mean:.2%}" for mean in result.cross_validation.means[:3]] == \
        ["96.80%", "96.80%", "96.66%"]
    assert result.best_k == 3 and f"{result.test_accuracy:.2%}" == "98.61%"


def test_the_plot_draws_each_fold_and_the_mean_with_error_bars(digits):
    result = cross_validate_k(digits[0][:600], digits[1][:600], [5, 1, 3], 4)
    axes = k_cross_validation_figure(result).axes[0]
    dots = np.concatenate([collection.get_offsets() for collection in axes.collections
                           if isinstance(collection, PathCollection)])
    assert sorted(map(tuple, dots)) == sorted((k, a) for k, row in
                                              result.k_to_accuracies.items() for a in row)
    [errorbar] = axes.containers
    line, caps, [bars] = errorbar.lines
    by_k = np.argsort(result.k_choices)
    np.testing.assert_allclose([segment[:, 1] for segment in bars.get_segments()],
                               np.stack([result.means - result.stds,
                                         result.means + result.stds], axis=1)[by_k])
    np.testing.assert_array_equal(line.get_xdata(), [1, 3, 5])
    np.testing.assert_allclose(line.get_ydata(), result.means[by_k])


def test_subsets_are_the_first_images_or_drawn_by_the_seed():
    first = run_knn("digits", k_choices=[1], num_folds=2, train_size=100, test_size=50)
    drawn = run_knn("digits", k_choices=[1], num_folds=2, train_size=100, test_size=50, seed=0)
    assert (first.train_examples, first.test_examples) == (100, 50)
    assert not np.array_equal(first.cross_validation.accuracies,
                              drawn.cross_validation.accuracies)
    again = run_knn("digits", k_choices=[1], num_folds=2, train_size=100, test_size=50, seed=0)
    np.testing.assert_array_equal(again.cross_validation.accuracies,
                                  drawn.cross_validation.accuracies)


def test_the_command_prints_the_table_and_writes_the_plot(cli, tmp_path):
    out = tmp_path / "plots" / "knn.png"
    result = cli("knn", "--dataset", "digits", "--k", "1,3,5", "--out", out)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[2:5] == ["    1  96.80% ± 1.19%", "    3  96.80% ± 1.23%  best",
                          "    5  96.66% ± 1.25%"]
    assert lines[5].startswith("best k = 3: test accuracy 98.61% (354 of 359)")
    assert lines[6] == f"plot: {out}" and out.read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("flags, message", [
    (("--k", "0"), "argument --k: every k must be at least 1, got '0'"),
    (("--k", "abc"), "argument --k: expected whole numbers separated by commas, got 'abc'"),
    (("--k", "2000"), "k = 2000 is more than the 1150 images a fold is classified by"),
    (("--folds", "1"), "num_folds must be from 2 to the 1438 training images, got 1"),
    (("--train-size", "5000"), "train_size must be from 1 to the 1438 training images"),
    (("--out", "knn.svg"), "--out must name a .png file"),
])
def test_bad_flags_give_one_line(cli, tmp_path, flags, message):
    result = cli("knn", "--dataset", "digits", "--out", tmp_path / "knn.png", *flags)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith(f"striate: error: {message}") and result.err.count("\n") == 1
    assert not (tmp_path / "knn.png").exists()


@pytest.mark.parametrize("call, message", [
    (lambda c: c.predict(np.zeros((1, 4))), "has not been trained"),
    (lambda c: c.train(np.zeros((3, 4)), np.array([0.5, 1, 2])), "one class number"),
    (lambda c: (c.train(np.zeros((3, 4)), np.arange(3)), c.predict(np.zeros((1, 5))))[1],
     "X has 5 values per image, the training images 4"),
    (lambda c: (c.train(np.zeros((3, 4)), np.arange(3)), c.predict(np.zeros((1, 4)), k=4))[1],
     "k must be a whole number from 1 to the 3 training images, got 4"),
    (lambda c: (c.train(np.zeros((3, 4)), np.arange(3)),
                c.predict(np.zeros((1, 4)), num_loops=3))[1], "num_loops must be 0, 1 or 2"),
    (lambda c: cross_validate_k(np.zeros((10, 4)), np.arange(10), [1, True]), "k_choices"),
])
def test_library_misuse_is_one_clear_error(call, message):
    with pytest.raises(striate.StriateError, match=message):
        call(KNearestNeighbor())
