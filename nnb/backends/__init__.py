"""Execution backends: one table, so that ``nnb run/eval --backend NAME`` and tests find them.

Each entry names a module that provides

``run(model_path, graph, inputs, options) -> dict[str, np.ndarray]``
    one forward pass; ``inputs`` maps input names to arrays (batch included),
    the result maps output names to arrays;
``predict(model_path, graph, x, options) -> np.ndarray``
    class scores ``(len(x), classes)`` for the first input/output, in batches
    (``nnb eval``).

``model_path`` is the file the user gave (.nnp, .nnq, .nnb, ...), ``graph`` the
graph nnb read from it, ``options`` a dict of backend options from the command
line (``device``, ``board``, ``batch``; absent keys mean defaults). Modules are
imported only when used, so a backend whose dependencies are missing costs
nothing until chosen.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable
from typing import Any

from nnb.errors import NnbError

# name -> (module, one-line help)
BACKENDS: dict[str, tuple[str, str]] = {
    "reference": ("nnb.backends.reference", "the numpy reference executor (the oracle)"),
    "c": ("nnb.backends.c", "the nnb C runtime through cffi (a model is converted to extended NNB first)"),
    "intsim": ("nnb.backends.intsim", "a calibrated .nnq (int8/fixed8/fixed16) through its integer simulation"),
    "opencl": ("nnb.backends.opencl", "OpenCL kernels through pyopencl on --device N (see nnb devices)"),
    "emit-c": ("nnb.backends.emit_c", "the model as emitted C source (nnb emit-c), compiled for the host (cached)"),
    "board": ("nnb.boards.backend", "firmware on --board NAME (see nnb boards), run under QEMU or on the host"),
}


# backends with run() only: one pass of given inputs, no predict() over a data set (nnb eval does not offer them)
RUN_ONLY = ("board",)


def backend_names(evaluating: bool = False) -> list[str]:
    """Every backend; ``evaluating``: those with ``predict`` (nnb eval)."""
    return [k for k in BACKENDS if not (evaluating and k in RUN_ONLY)]


def backend_help(names: list[str] | None = None) -> str:
    return "; ".join(f"{k}: {BACKENDS[k][1]}" for k in (names or BACKENDS))


def quiet_opencl_compiler() -> None:
    """pyopencl warns with two lines of stderr whenever PoCL's compiler prints anything (notes, not errors), on
    every command that uses OpenCL: silence that warning unless NNB_DEBUG asks for everything."""
    if not os.environ.get("NNB_DEBUG"):
        warnings.filterwarnings("ignore", message="Non-empty compiler output encountered")


def _module(name: str) -> Any:  # noqa: ANN401 - a backend module
    if name not in BACKENDS:
        raise NnbError(f"unknown backend '{name}' (known: {', '.join(BACKENDS)})")
    if name == "opencl":
        quiet_opencl_compiler()
    return importlib.import_module(BACKENDS[name][0])


def get_runner(name: str) -> Callable[..., dict]:
    """The backend's ``run(model_path, graph, inputs, options)``."""
    return _module(name).run


def get_predictor(name: str) -> Callable[..., Any]:
    """The backend's ``predict(model_path, graph, x, options)``."""
    mod = _module(name)
    if not hasattr(mod, "predict"):
        raise NnbError(f"backend '{name}' cannot evaluate data sets")
    return mod.predict
