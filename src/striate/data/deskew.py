"""Deskewing: straighten each handwritten image before anything learns from it.

LeCun's MNIST table reports it for nearly every classifier ("deskewing" preprocessing): a digit
written with a slant is sheared back upright, so a linear model no longer needs one template per
slant. For each image, from its pixel mass (all channels summed):

    centre      c = (c_r, c_c), the centre of mass
    slant       alpha = cov(r, c) / var(r), how far columns drift per row
    resampled   out(r, c) = in(c_r + (r - m_r), c_c + alpha (r - m_r) + (c - m_c))

where (m_r, m_c) is the image's middle: the shear that makes the mass's principal axis vertical,
moving the centre of mass to the middle. Bilinear interpolation, zero outside the image. A blank
image stays blank.
"""

import numpy as np

CHUNK = 4096  # images per pass: the (n, H, W) coordinate arrays stay a few tens of MB


def deskew(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) images -> (N, C, H, W) float32, each straightened and centred."""
    out = np.empty(images.shape, np.float32)
    for start in range(0, len(images), CHUNK):
        chunk = images[start:start + CHUNK].astype(np.float32)
        out[start:start + CHUNK] = resample(chunk, *source_coordinates(chunk.sum(axis=1)))
    return out


def source_coordinates(mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols), each (n, H, W): where each output pixel of each image is read from."""
    _, height, width = mass.shape
    rows, cols = np.mgrid[:height, :width].astype(np.float32)       # (H, W) each
    total = mass.sum(axis=(1, 2))                                   # (n,)
    total[total == 0] = 1.0                                         # blank: centre 0, no shear
    centre_r = (mass * rows).sum(axis=(1, 2)) / total               # (n,)
    centre_c = (mass * cols).sum(axis=(1, 2)) / total
    offset_r = rows - centre_r[:, None, None]                       # (n, H, W)
    offset_c = cols - centre_c[:, None, None]
    var_r = (mass * offset_r ** 2).sum(axis=(1, 2)) / total
    cov = (mass * offset_r * offset_c).sum(axis=(1, 2)) / total
    alpha = np.divide(cov, var_r, out=np.zeros_like(cov), where=var_r > 0)[:, None, None]
    from_middle_r = rows - (height - 1) / 2                          # (H, W)
    from_middle_c = cols - (width - 1) / 2
    source_r = centre_r[:, None, None] + from_middle_r
    source_c = centre_c[:, None, None] + alpha * from_middle_r + from_middle_c
    return source_r, source_c


def resample(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear samples of (n, C, H, W) images at (n, H, W) coordinates, 0 outside."""
    n, _, height, width = images.shape
    top, left = np.floor(rows), np.floor(cols)
    down, right = rows - top, cols - left                             # (n, H, W) weights
    top, left = top.astype(np.int64), left.astype(np.int64)
    image_index = np.arange(n)[:, None, None]
    out = np.zeros(images.shape, np.float32)
    for dr, weight_r in ((0, 1 - down), (1, down)):
        for dc, weight_c in ((0, 1 - right), (1, right)):
            r, c = top + dr, left + dc
            inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)    # (n, H, W)
            values = images[image_index, :, r.clip(0, height - 1), c.clip(0, width - 1)]
            # values: (n, H, W, C) from the advanced indexing; channels back in front
            out += np.moveaxis(values, -1, 1) * (weight_r * weight_c * inside)[:, None]
    return out
