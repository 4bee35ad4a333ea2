"""The learning-rate range test's picture: training loss against a logarithmic learning rate."""

from pathlib import Path

from striate.files import atomic_path


def plot_lr_find(lrs, losses, smoothed, suggestion: float, path: Path, title: str) -> None:
    """lrs, losses, smoothed: one value per step; the suggested rate is marked."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.0))
    axes.plot(lrs, losses, color="0.7", linewidth=0.8, label="minibatch loss")
    axes.plot(lrs, smoothed, color="C0", linewidth=2, label="smoothed")
    axes.axvline(suggestion, color="C3", linestyle="--", label=f"suggested lr {suggestion:.2g}")
    axes.set_xscale("log")
    # The last minibatch losses can be orders of magnitude up; the smoothed curve sets the scale.
    axes.set_ylim(0, 1.1 * max(smoothed))
    axes.set(xlabel="learning rate", ylabel="training loss", title=title)
    axes.legend()
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
