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
