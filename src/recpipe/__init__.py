"""recpipe: batch recommendations for a one-of-a-kind fashion marketplace."""

__version__ = "0.1.0"
