"""Plots and the HTML report. They read run directories, never a live trainer, and draw
headless (matplotlib's Agg backend), so they work over SSH and in CI."""

import os

# Through the environment, not matplotlib.use(): importing this package must stay cheap for the
# modules that only read run directories, so matplotlib is imported by the plots that draw.
# Plots are only ever written to files, so the window-less Agg is always the right backend.
os.environ["MPLBACKEND"] = "Agg"
