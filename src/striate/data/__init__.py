"""The engine-independent data layer: data sets as numpy arrays, found or downloaded safely.

Loaders return a Dataset of uint8 (or, for mnist.pkl.gz, float32) arrays in (N, C, H, W) layout
plus the value of a white pixel; the engine moves them to its device and scales them there.
"""

from striate.data.dataset import Dataset, Split
from striate.data.images import load_image
from striate.data.normalize import Standardize
from striate.data.registry import dataset_names, describe_datasets, fetch_dataset, load_dataset
from striate.data.splits import split_validation

__all__ = ["Dataset", "Split", "dataset_names", "describe_datasets", "fetch_dataset",
           "load_dataset", "load_image", "split_validation", "Standardize"]
