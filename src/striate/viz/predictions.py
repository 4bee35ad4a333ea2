"""A checkpoint's predictions on its data set's test split: the confusion matrix, per-class
accuracy and the images it gets wrong with the most confidence."""

from dataclasses import dataclass

import numpy as np

from striate.data import Split
from striate.inference import checkpoint_dataset, load_predictor, probabilities
from striate.viz.figures import display_image, new_figure, show_image

WRONG_SHOWN = 16          # confidently wrong images in one picture, a 4 x 4 grid
MAX_ANNOTATED_CLASSES = 20  # beyond this, counts printed in the cells become unreadable


@dataclass(frozen=True)
class TestData:
    split: Split        # the test images as stored, (N, C, H, W), and their labels
    pixel_max: float    # the value of a white pixel


@dataclass(frozen=True)
class Predictions:
    labels: np.ndarray         # (N,) true classes
    probabilities: np.ndarray  # (N, classes)
    class_names: list[str]

    @property
    def predicted(self) -> np.ndarray:                       # (N,)
        return self.probabilities.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        return float((self.predicted == self.labels).mean())

    def confusion(self) -> np.ndarray:
        """(classes, classes) counts: row = true class, column = predicted class."""
        classes = len(self.class_names)
        counts = np.zeros((classes, classes), dtype=np.int64)
        np.add.at(counts, (self.labels, self.predicted), 1)
        return counts

    def per_class(self) -> list[dict]:
        """One row per class: its test examples, how many are right, and the accuracy."""
        counts = self.confusion()
        totals, right = counts.sum(axis=1), np.diag(counts)
        return [{"class": name, "examples": int(total), "correct": int(hits),
                 "accuracy": hits / total if total else float("nan")}
                for name, total, hits in zip(self.class_names, totals, right)]

    def most_confidently_wrong(self, count: int) -> np.ndarray:
        """Indices of up to `count` misclassified images, highest predicted probability first."""
        wrong = np.flatnonzero(self.predicted != self.labels)
        confidence = self.probabilities[wrong, self.predicted[wrong]]
        return wrong[np.argsort(-confidence, kind="stable")[:count]]


def checkpoint_test_data(meta: dict, checkpoint) -> TestData:
    """The test split of the data set the checkpoint was trained on, as its config names it."""
    dataset, _ = checkpoint_dataset(checkpoint, meta)
    return TestData(dataset.test, dataset.pixel_max)


def predict_test(checkpoint, test: TestData, device: str,
                 trust_model_code: bool = False) -> Predictions:
    log_proba, meta, preprocess = load_predictor(checkpoint, None, device,
                                                 trust_model_code=trust_model_code)
    chances = probabilities(log_proba, preprocess, test.split.images, test.pixel_max)
    return Predictions(test.split.labels, chances, meta["class_names"])


def confusion_figure(predictions: Predictions):
    counts = predictions.confusion()
    names, classes = predictions.class_names, len(predictions.class_names)
    figure = new_figure(7, 6)
    axes = figure.add_subplot()
    shown = axes.imshow(counts, cmap="Blues")
    figure.colorbar(shown, ax=axes, label="test images")
    axes.set_xticks(range(classes), names, rotation=45, ha="right")
    axes.set_yticks(range(classes), names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(f"test accuracy {predictions.accuracy:.2%} "
                   f"({len(predictions.labels)} images)")
    if classes <= MAX_ANNOTATED_CLASSES:
        for (true, predicted), count in np.ndenumerate(counts):
            dark = count > counts.max() / 2
            axes.text(predicted, true, str(count), ha="center", va="center", fontsize=8,
                      color="white" if dark else "black")
    return figure


def wrong_figure(predictions: Predictions, test: TestData):
    """The misclassified test images the model was surest of, with its guess and the truth."""
    indices = predictions.most_confidently_wrong(WRONG_SHOWN)
    figure = new_figure(8, 8.6)
    if not len(indices):
        figure.text(0.5, 0.5, "no test image is misclassified", ha="center", va="center")
        return figure
    names = predictions.class_names
    columns = int(np.ceil(np.sqrt(WRONG_SHOWN)))
    for position, index in enumerate(indices, start=1):
        guess = predictions.predicted[index]
        show_image(figure.add_subplot(columns, columns, position),
                   display_image(test.split.images[index]),
                   f"#{index}: {names[guess]} {predictions.probabilities[index, guess]:.0%}"
                   f"\ntrue: {names[predictions.labels[index]]}")
    figure.suptitle("most confidently wrong test images: prediction, its probability, truth")
    return figure
