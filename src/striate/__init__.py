"""striate: the Deep Learning Tutorials and cs231n as real, fast, tested software."""

__version__ = "0.1.0"
