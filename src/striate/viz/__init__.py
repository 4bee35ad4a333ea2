"""Plots and the HTML report. They read run directories, never a live trainer, and draw
headless (matplotlib's Agg backend), so they work over SSH and in CI."""

import matplotlib

matplotlib.use("Agg")
