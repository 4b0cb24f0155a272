"""Execution backends besides the numpy reference (nnb/executor.py)."""
