"""Plots and the HTML report. They read run directories, never a live trainer, and draw
headless (matplotlib's Agg backend), so they work over SSH and in CI."""

import os

# Through the environment, not matplotlib.use(): the CLI imports this package to build its
# parser, and importing matplotlib there would slow down every `striate` command, --help too.
# Plots are only ever written to files, so the window-less Agg is always the right backend.
os.environ["MPLBACKEND"] = "Agg"
