"""The engine-independent data layer: data sets as numpy arrays, found or downloaded safely.

Loaders return a Dataset of uint8 (or, for mnist.pkl.gz, float32) arrays in (N, C, H, W) layout
plus the value of a white pixel; a Preprocess fitted on the training split turns them into the
float32 inputs both engines train on. Your own data become the same Dataset through
Dataset.from_arrays (numpy or torch, in memory; `--dataset npz` for a file of them) and
Dataset.from_folder (`--dataset folder`).
"""

from striate.data.dataset import Dataset, Split
from striate.data.images import load_image
from striate.data.preprocess import Preprocess
from striate.data.registry import dataset_names, describe_datasets, fetch_dataset, load_dataset
from striate.data.splits import split_validation

__all__ = ["Dataset", "Split", "dataset_names", "describe_datasets", "fetch_dataset",
           "load_dataset", "load_image", "split_validation", "Preprocess"]
