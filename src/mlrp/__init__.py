"""mlrp: a machine-learning research platform for research labs."""

__version__ = "0.1.0"
