"""Training on the graph IR: reverse-mode autograd, optimizers, the training loop and CLI commands.

Everything is numpy: a model loaded from an NNP can be fine-tuned (and, in
``nnb.quantize``, quantized) without nnabla installed.
"""
