"""Quantization-aware training on top of ``nnb.train``: LUT-Q (look-up tables) and DQ (learned step/range).

See /work/shared/reference/QUANTIZATION.md for the formulas; ``docs/training.md`` for usage.
"""
