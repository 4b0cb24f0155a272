"""nnb: ahead-of-time embedded inference for nnabla NNP models."""

__version__ = "0.1.0"
