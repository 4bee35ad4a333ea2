"""The learning-rate range test's picture: training loss against a logarithmic learning rate."""

import io


def plot_lr_find(lrs, losses, smoothed, suggestion: float, title: str) -> bytes:
    """lrs, losses, smoothed: one value per step; the suggested rate is marked. Returns the PNG,
    so that the caller writes nothing until every file's content exists."""
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
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=100)
    plt.close(figure)
    return png.getvalue()
