"""The picture of cross-validation over k, drawn as cs231n's knn notebook draws it."""

from matplotlib.figure import Figure

from striate.knn import KCrossValidation
from striate.viz.figures import new_figure, png_bytes


def k_cross_validation_figure(result: KCrossValidation, title: str = "Cross-validation on k") -> Figure:
    """Each fold's accuracy as a dot over its k, and the mean with ± std error bars as a line."""
    figure = new_figure()
    axes = figure.subplots()
    for k, accuracies in result.k_to_accuracies.items():
        axes.scatter([k] * len(accuracies), accuracies, color="C0", alpha=0.5, s=16)
    # The line joins the means in order of k, whatever order the k were given in.
    by_k = sorted(range(len(result.k_choices)), key=lambda i: result.k_choices[i])
    axes.errorbar([result.k_choices[i] for i in by_k], result.means[by_k],
                  yerr=result.stds[by_k], color="C1", capsize=3,
                  label=f"mean ± std over {result.num_folds} folds")
    axes.set(title=title, xlabel="k", ylabel="Cross-validation accuracy")
    axes.legend(loc="lower left")
    return figure


def k_cross_validation_png(result: KCrossValidation, title: str = "Cross-validation on k") -> bytes:
    return png_bytes(k_cross_validation_figure(result, title))
