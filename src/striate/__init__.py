"""striate: the Deep Learning Tutorials and cs231n as real, fast, tested software."""

from striate.version import __version__

__all__ = ["__version__"]
