"""Taking a trained model out of striate: an ONNX or TorchScript file that needs neither striate
nor the run directory.

The exported graph takes what an application has in hand, (N, C, H, W) float32 pixel values from
0 to 255 of images already at the model's size, and gives (N, classes) class probabilities.
Between the two it does everything `striate predict` does: scaling to [0, 1], the preprocessing
fitted on the run's training split (standardization, mean image, PCA, whitening, ZCA), the
network, the softmax and, when asked, the test-time views' probabilities averaged in (--tta,
--tta-shift). Only the resizing stays outside (the graph has a fixed image size): `striate
predict` resizes with Pillow's bilinear filter and converts to gray or RGB
(striate.data.images.load_image). The batch size is free. The file's metadata records the
class names and how to call it.
"""

import importlib.util
import io
import json
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from striate.checkpoint import resolve_checkpoint
from striate.data import Preprocess
from striate.data import pipeline
from striate.errors import StriateError
from striate.files import atomic_write_bytes
from striate.inference import check_tta
from striate.registry import SPECS
from striate.training.learner import TTA, as_tta, view
from striate.version import __version__

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}  # format -> file suffix
METADATA_FILE = "striate.json"  # TorchScript: the extra file holding the metadata
INPUT, OUTPUT = "pixels", "probabilities"
PIXEL_MAX = 255.0  # what the graph takes, whatever the data set's own white level
EXAMPLE_BATCH = 2  # the traced example; export marks the batch dimension free


def export_model(checkpoint, format: str = "onnx", out: str | Path | None = None,
                 tta: bool | TTA = False, overwrite: bool = False,
                 trust_model_code: bool = False) -> Path:
    """Write the model of a run directory or checkpoint as `format` ("onnx" or "torchscript")
    to `out` (default: the checkpoint's path with .onnx or .pt) and return that path. tta: the
    views' probabilities averaged in, as `striate predict --tta [--tta-shift N]` (True: the
    mirror image's); overwrite: replace an existing `out`, which is otherwise refused."""
    if format not in FORMATS:
        raise StriateError(f"unknown export format {format!r}; choose one of "
                           f"{', '.join(FORMATS)}")
    checkpoint = resolve_checkpoint(checkpoint)
    out = Path(out) if out is not None else checkpoint.with_suffix(FORMATS[format])
    if out.exists() and not overwrite:
        raise StriateError(f"{out} exists; choose another --out, or --force to replace it")
    tta = as_tta(tta)
    deployed, meta = deployable(checkpoint, tta, trust_model_code)
    metadata = describe(checkpoint, meta, tta)
    with quiet_exporter():
        data = to_onnx(deployed, metadata) if format == "onnx" else \
            to_torchscript(deployed, metadata)
    atomic_write_bytes(out, data)
    return out


def deployable(checkpoint: Path, tta: TTA, trust_model_code: bool):
    """(the torch module from pixels to probabilities, the checkpoint's metadata)."""
    from striate.torch.engine import load_model

    preprocess, meta = pipeline.load_preprocess(checkpoint)
    spec = SPECS.get(meta["model"])
    if spec is not None and "torch" not in spec.engines:
        raise StriateError(f"{checkpoint} is a {meta['model']} model, which only the NumPy "
                           "engine has; export needs a model the torch engine can run "
                           "(`striate models` lists each model's engines)")
    if preprocess.deskew:
        raise StriateError(f"{checkpoint} was trained on deskewed images (--deskew), which an "
                           "exported graph cannot straighten; export a model trained without "
                           "--deskew")
    check_tta(meta.get("dataset"), preprocess, tta)
    model, meta = load_model(checkpoint, "cpu", trust_model_code)
    # No gradients: a traced graph's outputs would otherwise carry requires_grad.
    return Deployed(model.float(), preprocess, tta).eval().requires_grad_(False), meta


def describe(checkpoint: Path, meta: dict, tta: TTA) -> dict[str, str]:
    """The exported file's metadata: string keys and values, as ONNX's metadata_props."""
    channels, height, width = meta["input_shape"]
    return {"striate_version": __version__, "source": str(checkpoint),
            "class_names": json.dumps(meta["class_names"]), "model": meta["model"],
            "input_shape": json.dumps([channels, height, width]),
            "input": f"{INPUT}: (N, {channels}, {height}, {width}) float32 pixel values from 0 "
                     f"to {PIXEL_MAX:g}, {'gray' if channels == 1 else 'RGB'}, images resized "
                     f"to {height}x{width}",
            "output": f"{OUTPUT}: (N, {len(meta['class_names'])}) class probabilities, in the "
                      "order of class_names",
            "preprocess": meta["preprocess"]["kind"], "tta": json.dumps(tta.mirror),
            "tta_shift": json.dumps(tta.shift),
            "config": json.dumps(meta["config"])}


def to_onnx(deployed: nn.Module, metadata: dict[str, str]) -> bytes:
    # torch's exporter writes the graph with onnxscript
    if not all(importlib.util.find_spec(name) for name in ("onnx", "onnxscript")):
        raise StriateError("ONNX export needs the onnx and onnxscript packages: pip install "
                           "'striate[export]'")
    import onnx

    program = torch.onnx.export(deployed, (example(deployed),), dynamo=True, verbose=False,
                                input_names=[INPUT], output_names=[OUTPUT],
                                dynamic_shapes=({0: torch.export.Dim("batch")},))
    proto = program.model_proto
    onnx.helper.set_model_props(proto, metadata)
    return proto.SerializeToString()


def to_torchscript(deployed: nn.Module, metadata: dict[str, str]) -> bytes:
    # Traced, not scripted: any nn.Module traces, a user's own included. The example's batch
    # size is not baked in: the models only ever flatten from dimension 1.
    traced = torch.jit.trace(deployed, example(deployed))
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer, _extra_files={METADATA_FILE: json.dumps(metadata)})
    return buffer.getvalue()


def example(deployed: nn.Module) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(EXAMPLE_BATCH, *deployed.input_shape, generator=generator) * PIXEL_MAX


@contextmanager
def quiet_exporter():
    """torch's exporters warn about what striate's graphs never use (torchvision's operators,
    deprecations); a user of `striate export` has nothing to act on in them."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


class Deployed(nn.Module):
    """(N, C, H, W) float32 pixels 0..255 -> (N, classes) probabilities: predict's whole path.

    The arithmetic is Preprocess.apply's, in its order, on float32: true division by the white
    level, then - mean, / std, @ matrix."""

    def __init__(self, model: nn.Module, preprocess: Preprocess, tta: TTA):
        super().__init__()
        self.model, self.tta = model, tta
        self.input_shape = preprocess.input_shape
        self.output_shape = preprocess.output_shape
        # Training divided by the data set's own white level, predict divides 0..255 files by
        # 255: both land on [0, 1], which the preprocessing was fitted on.
        self.register_buffer("pixel_max", torch.tensor(PIXEL_MAX, dtype=torch.float32))
        for name in ("mean", "std", "matrix"):
            tensor = preprocess.tensors.get(name)
            if tensor is not None and name != "matrix":
                tensor = preprocess.broadcast(tensor)      # (1, C or 1, H or 1, W or 1)
            self.register_buffer(name, None if tensor is None else
                                 torch.from_numpy(np.ascontiguousarray(tensor)))

    def forward(self, pixels):                               # (N, C, H, W) -> (N, classes)
        x = self.preprocessed(pixels)
        # as predict --tta: the views of the preprocessed input, their probabilities averaged
        views = [self.model(view(x, *v)).float().softmax(1) for v in self.tta.views]
        return torch.stack(views).mean(0) if len(views) > 1 else views[0]

    def preprocessed(self, pixels):                           # -> (N, *output_shape)
        x = pixels / self.pixel_max
        if self.mean is not None:
            x = x - self.mean
        if self.std is not None:
            x = x / self.std
        if self.matrix is not None:
            x = (x.flatten(1) @ self.matrix).unflatten(1, self.output_shape)
        return x
