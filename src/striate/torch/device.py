import torch

from striate.config import check_device
from striate.errors import StriateError


def resolve_device(spec: str) -> torch.device:
    check_device(spec)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise StriateError(f"--device {spec}: no CUDA GPU is visible to torch here; "
                               "use --device cpu (or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise StriateError(f"--device {spec}: only {torch.cuda.device_count()} GPU(s); "
                               "pick an index below that")
    return device


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 arithmetic runs in hardware; elsewhere it is emulated, slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def resolve_precision(spec: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for --precision, or None for plain fp32."""
    if spec == "auto":
        if native_bf16(device):
            return torch.bfloat16
        return torch.float16 if device.type == "cuda" else None
    if spec == "fp16" and device.type != "cuda":
        raise StriateError("--precision fp16 needs a CUDA device (CPUs compute fp16 slowly "
                           "and without loss scaling); use bf16 or fp32")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[spec]
