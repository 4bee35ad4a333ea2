import json

import numpy as np
import pytest
from safetensors.numpy import load, save

import torch

from striate.data.preprocess import KINDS, Preprocess
from striate.errors import StriateError

SHAPE = (3, 4, 4)
DIM = 48  # values per image


def correlated(count: int = 2000, seed: int = 0) -> np.ndarray:
    """(count, 3, 4, 4) float32 with strongly correlated features: z @ A, A random."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(DIM, DIM)) / np.sqrt(DIM)
    features = rng.normal(size=(count, DIM)) @ mixing + rng.normal(size=DIM)
    return features.reshape(count, *SHAPE).astype(np.float32)


def pixels(count: int = 300, seed: int = 1) -> np.ndarray:
    """(count, 3, 4, 4) uint8 with pixel (0, 0, 0) constant, as a black border would be."""
    images = np.random.default_rng(seed).integers(0, 256, size=(count, *SHAPE), dtype=np.uint8)
    images[:, 0, 0, 0] = 9
    return images


def fitted(kind: str, images=None) -> Preprocess:
    images = pixels() if images is None else images
    return Preprocess.fit(kind, images, 255.0, components=5 if kind == "pca" else None)


def covariance(outputs: np.ndarray) -> np.ndarray:
    flat = outputs.reshape(len(outputs), -1).astype(np.float64)
    centred = flat - flat.mean(axis=0)
    return centred.T @ centred / len(flat)


@pytest.mark.parametrize("dtype, pixel_max", [(np.uint8, 16.0), (np.uint8, 255.0),
                                              (np.float32, 1.0)])
def test_standardize_fits_per_channel_statistics_and_keeps_the_published_bits(dtype, pixel_max):
    rng = np.random.default_rng(2)
    # More than one chunk of 8192, so the chunked sums are compared too.
    images = (rng.integers(0, int(pixel_max) + 1, size=(9000, *SHAPE)) if dtype == np.uint8
              else rng.random((9000, *SHAPE))).astype(dtype)
    images[:, 2] = images[0, 2, 0, 0]  # a constant channel: std replaced by 1
    ours = Preprocess.fit("standardize", images, pixel_max)
    scaled = images / np.float64(pixel_max)
    np.testing.assert_allclose(ours.tensors["mean"], scaled.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(ours.tensors["std"][:2], scaled.std(axis=(0, 2, 3))[:2], rtol=1e-5)
    assert ours.tensors["std"][2] == 1.0
    # The documented figures were measured with these torch float32 steps on the device.
    mean, std = (torch.from_numpy(ours.tensors[k]).view(1, -1, 1, 1) for k in ("mean", "std"))
    reference = torch.from_numpy(images.copy()).float().div_(pixel_max).sub_(mean).div_(std)
    assert np.array_equal(ours.apply(images, pixel_max), reference.numpy())


def test_none_is_the_scaled_pixels_bit_for_bit():
    images = pixels()
    out = Preprocess.fit("none", images, 16.0).apply(images, 16.0)
    assert out.dtype == np.float32
    assert np.array_equal(out, images.astype(np.float32) / np.float32(16.0))


@pytest.mark.parametrize("kind", ["zca", "pca-whiten"])
def test_whitening_gives_identity_covariance_on_training_data(kind):
    images = correlated()
    assert np.abs(covariance(images) - np.eye(DIM)).max() > 0.5  # far from white before
    out = Preprocess.fit(kind, images, 1.0, eps=1e-8).apply(images, 1.0)
    np.testing.assert_allclose(covariance(out), np.eye(DIM), atol=1e-3)
    np.testing.assert_allclose(out.reshape(len(out), -1).mean(axis=0), 0, atol=1e-4)


def test_zca_is_the_symmetric_whitening_and_keeps_the_image_layout():
    images = correlated()
    zca = Preprocess.fit("zca", images, 1.0, eps=1e-8)
    matrix = zca.tensors["matrix"]
    np.testing.assert_allclose(matrix, matrix.T, rtol=0, atol=1e-6 * np.abs(matrix).max())
    out = zca.apply(images, 1.0)
    assert out.shape == images.shape and zca.is_image_like()
    # Of all whitening transforms the symmetric one moves the centred data least.
    centred = (images - images.mean(axis=0)).reshape(len(images), -1)
    rotated = Preprocess.fit("pca-whiten", images, 1.0, eps=1e-8).apply(images, 1.0)
    zca_moved = np.square(out.reshape(len(out), -1) - centred).sum()
    pca_moved = np.square(rotated.reshape(len(rotated), -1) - centred).sum()
    assert zca_moved < 0.5 * pca_moved


def test_pca_keeps_the_top_components_in_order():
    images = correlated()
    flat = images.reshape(len(images), -1).astype(np.float64)
    eigenvalues = np.linalg.eigvalsh(covariance(images))[::-1]
    errors = []
    for k in (1, 4, 16, DIM):
        pca = Preprocess.fit("pca", images, 1.0, components=k)
        out = pca.apply(images, 1.0)
        assert out.shape == (len(images), k, 1, 1) and pca.output_shape == (k, 1, 1)
        assert not pca.is_image_like()
        matrix = pca.tensors["matrix"].astype(np.float64)                 # (D, k)
        np.testing.assert_allclose(matrix.T @ matrix, np.eye(k), atol=1e-5)  # orthonormal
        variances = out.reshape(len(out), k).astype(np.float64).var(axis=0)
        assert np.all(np.diff(variances) <= 0)
        np.testing.assert_allclose(variances, eigenvalues[:k], rtol=1e-4)
        rebuilt = out.reshape(len(out), k) @ matrix.T + pca.tensors["mean"]
        errors.append(np.square(flat - rebuilt).sum(axis=1).mean())
    assert all(later < earlier for earlier, later in zip(errors, errors[1:]))
    assert errors[-1] < 1e-8 * errors[0]


def test_scalar_mean_subtracts_one_number_as_the_notes_do():
    images = np.random.default_rng(3).integers(0, 256, (40, 3, 4, 5), dtype=np.uint8)
    scalar = fitted("scalar-mean", images)
    x = images.astype(np.float64) / 255.0
    expected = x - np.mean(x)                          # cs231n: X -= np.mean(X)
    np.testing.assert_allclose(scalar.apply(images, 255.0), expected, atol=1e-6)
    assert scalar.tensors["mean"].shape == (1,)
    meta, tensors = scalar.to_checkpoint()
    again = Preprocess.from_checkpoint(meta, tensors, "test")
    np.testing.assert_array_equal(again.apply(images, 255.0), scalar.apply(images, 255.0))


def test_mean_image_centres_every_feature():
    images = pixels()
    out = fitted("mean-image", images).apply(images, 255.0).reshape(len(images), -1)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-6)
    # Only the mean is removed: the spread stays that of the [0, 1] pixels.
    spread = (images / 255.0).reshape(len(images), -1).std(axis=0)
    np.testing.assert_allclose(out.std(axis=0), spread, rtol=1e-5, atol=1e-6)


def test_per_feature_standardizes_every_feature_but_leaves_constants_at_zero():
    images = pixels()
    per_feature = fitted("per-feature", images)
    out = per_feature.apply(images, 255.0).reshape(len(images), -1)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(out.std(axis=0)[1:], 1, rtol=1e-5)
    assert per_feature.tensors["std"][0] == 1.0 and np.all(out[:, 0] == 0)


@pytest.mark.parametrize("kind", KINDS)
def test_checkpoint_round_trip_through_a_file_applies_identically(kind):
    images = pixels()
    original = fitted(kind, images)
    meta, tensors = original.to_checkpoint()
    meta = json.loads(json.dumps(meta))
    restored = Preprocess.from_checkpoint(meta, load(save(tensors)), "run/preprocess.safetensors")
    assert (restored.kind, restored.input_shape, restored.eps) == (kind, SHAPE, original.eps)
    assert restored.output_shape == original.output_shape
    assert np.array_equal(restored.apply(images, 255.0), original.apply(images, 255.0))


def test_checkpoint_meta_names_kind_shape_eps_components_and_deskew():
    pca = Preprocess.fit("pca-whiten", pixels(), 255.0, components=7, eps=0.5)
    meta, tensors = pca.to_checkpoint()
    assert meta == {"kind": "pca-whiten", "input_shape": [3, 4, 4], "eps": 0.5, "components": 7,
                    "deskew": False}
    assert {name: t.shape for name, t in tensors.items()} == {
        "mean": (DIM,), "matrix": (DIM, 7)}
    assert Preprocess.fit("pca-whiten", pixels(), 255.0).output_shape == (DIM, 1, 1)
    assert fitted("zca").to_checkpoint()[0]["components"] is None


def set_meta(key, value):
    return lambda meta, tensors: meta.__setitem__(key, value)


def set_tensor(name, make):
    return lambda meta, tensors: tensors.__setitem__(name, make(tensors.get(name)))


def with_value(index, value):
    def make(array):
        array = array.copy()
        array.flat[index] = value
        return array
    return make


TAMPERING = {
    "unknown kind": ("zca", set_meta("kind", "sharpen")),
    "kind not a string": ("zca", set_meta("kind", ["zca"])),
    "two sizes": ("zca", set_meta("input_shape", [3, 16])),
    "zero size": ("mean-image", set_meta("input_shape", [3, 4, 0])),
    "size not an int": ("mean-image", set_meta("input_shape", [3, 4, "4"])),
    "shape of another image": ("per-feature", set_meta("input_shape", [1, 4, 4])),
    "zero eps for whitening": ("zca", set_meta("eps", 0)),
    "eps not finite": ("pca-whiten", set_meta("eps", float("nan"))),
    "eps a string": ("standardize", set_meta("eps", "0.1")),
    "deskew a string": ("standardize", set_meta("deskew", "yes")),
    "components for zca": ("zca", set_meta("components", 5)),
    "no components for pca": ("pca", set_meta("components", None)),
    "components past the matrix": ("pca", set_meta("components", 6)),
    "components past D": ("pca", set_meta("components", DIM + 1)),
    "matrix transposed": ("pca", set_tensor("matrix", lambda m: m.T.copy())),
    "mean per channel": ("mean-image", set_tensor("mean", lambda m: m[:3].copy())),
    "missing mean": ("zca", lambda meta, tensors: tensors.pop("mean")),
    "missing std": ("standardize", lambda meta, tensors: tensors.pop("std")),
    "extra std": ("zca", set_tensor("std", lambda _: np.ones(DIM, np.float32))),
    "tensors for none": ("none", set_tensor("mean", lambda _: np.zeros(3, np.float32))),
    "float64": ("mean-image", set_tensor("mean", lambda m: m.astype(np.float64))),
    "NaN in matrix": ("zca", set_tensor("matrix", with_value(7, np.nan))),
    "inf in mean": ("per-feature", set_tensor("mean", with_value(0, np.inf))),
    "negative std": ("standardize", set_tensor("std", with_value(1, -0.5))),
    "zero std": ("per-feature", set_tensor("std", with_value(3, 0.0))),
}


@pytest.mark.parametrize("kind, tamper", TAMPERING.values(), ids=TAMPERING.keys())
def test_tampered_checkpoints_are_refused_with_one_line(kind, tamper):
    meta, tensors = fitted(kind).to_checkpoint()
    tamper(meta, tensors)
    with pytest.raises(StriateError, match=r"^run/model\.safetensors ") as error:
        Preprocess.from_checkpoint(meta, tensors, "run/model.safetensors")
    assert "\n" not in str(error.value)


def test_metadata_that_is_not_a_mapping_is_refused():
    with pytest.raises(StriateError, match="not a mapping"):
        Preprocess.from_checkpoint(["zca"], {}, "x.safetensors")


@pytest.mark.parametrize("kind", ["pca-whiten", "zca", "per-feature"])
def test_fit_is_deterministic(kind):
    images = correlated(500)
    first, second = (Preprocess.fit(kind, images, 1.0) for _ in range(2))
    assert first.tensors.keys() == second.tensors.keys()
    assert all(np.array_equal(first.tensors[name], second.tensors[name]) for name in first.tensors)


def test_each_component_has_its_largest_entry_positive():
    matrix = Preprocess.fit("pca", correlated(500), 1.0, components=DIM).tensors["matrix"]
    largest = np.abs(matrix).argmax(axis=0)
    assert np.all(matrix[largest, np.arange(DIM)] > 0)


@pytest.mark.parametrize("kind, options, count, flag", [
    ("sharpen", {}, 10, "--preprocess"),
    ("standardize", {"components": 3}, 10, "--pca-components"),
    ("zca", {"components": 3}, 10, "--pca-components"),
    ("pca", {}, 10, "--pca-components"),
    ("pca", {"components": 0}, 10, "--pca-components"),
    ("pca-whiten", {"components": DIM + 1}, 10, "--pca-components"),
    ("pca", {"components": 2.5}, 10, "--pca-components"),
    ("zca", {"eps": 0.0}, 10, "--whiten-eps"),
    ("pca-whiten", {"eps": -1e-3}, 10, "--whiten-eps"),
    ("zca", {"eps": float("nan")}, 10, "--whiten-eps"),
    ("standardize", {}, 1, "at least 2 training images"),
    ("pca", {"components": 2}, 1, "at least 2 training images"),
])
def test_bad_requests_name_the_flag_to_change(kind, options, count, flag):
    with pytest.raises(StriateError, match=flag) as error:
        Preprocess.fit(kind, pixels(count), 255.0, **options)
    assert "\n" not in str(error.value)


def test_images_of_another_shape_are_refused():
    zca = fitted("zca")
    with pytest.raises(StriateError, match="3x4x4"):
        zca.apply(np.zeros((2, 3, 5, 5), np.uint8), 255.0)
    with pytest.raises(StriateError, match="3x4x4"):
        zca.apply(np.zeros((2, 4, 4), np.uint8), 255.0)
