"""The CLI verbs: one module per verb, each with ``register(subparsers)``.

A module's ``register`` adds its subparser and sets ``func`` to a function
that takes the parsed namespace and returns an exit status (raising NnbError
for bad input). Domain packages (nnb/ir, nnb/emit, ...) never import this
package; it imports them lazily inside the command functions, so
``nnb --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib

# the order of `nnb --help`
VERBS = [
    "inspect",
    "run",
    "convert",
    "emit_c",
    "plan",
    "train",
    "eval",
    "quantize",
    "demo",
    "devices",
    "boards",
    "build",
]


def register_all(sub: argparse._SubParsersAction) -> None:
    for verb in VERBS:
        importlib.import_module(f"nnb.commands.{verb}").register(sub)
