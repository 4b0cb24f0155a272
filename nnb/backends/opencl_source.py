"""Where the OpenCL kernels (``opencl/*.cl``) are, and the program source made of them.

Looked up in this order: ``$NNB_OPENCL_DIR``; ``opencl/`` beside the ``nnb``
package (a source checkout); ``<sys.prefix>/share/nnb/opencl`` (an installed
package's data files).  The files are concatenated in :data:`ORDER` (later
files use helpers of earlier ones); any other ``.cl`` file is appended.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys

from nnb.errors import NnbError

ORDER = ("common.cl", "elementwise.cl", "array.cl", "reduce.cl", "pool.cl", "conv.cl", "conv_fast.cl",
         "conv_vec.cl", "affine.cl", "packed.cl")
_HERE = os.path.dirname(os.path.abspath(__file__))


def source_dir() -> str:
    """The directory holding the .cl files (NnbError when none is found)."""
    env = os.environ.get("NNB_OPENCL_DIR")
    candidates = [env] if env else []
    candidates += [os.path.join(os.path.dirname(os.path.dirname(_HERE)), "opencl"),
                   os.path.join(sys.prefix, "share", "nnb", "opencl")]
    for d in candidates:
        if d and os.path.isfile(os.path.join(d, "common.cl")):
            return d
    raise NnbError("the OpenCL kernels (opencl/*.cl) are not found; set NNB_OPENCL_DIR to their directory")


def program_source(directory: str | None = None) -> str:
    """All kernels as one OpenCL C source."""
    d = directory or source_dir()
    names = [n for n in ORDER if os.path.exists(os.path.join(d, n))]
    names += sorted(n for n in os.listdir(d) if n.endswith(".cl") and n not in ORDER)
    parts = []
    for n in names:
        with open(os.path.join(d, n), encoding="utf-8") as f:
            parts.append(f"/* ---- {n} ---- */\n{f.read()}")
    return "\n".join(parts)


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def defines(source: str) -> dict[str, int]:
    """Integer ``#define NAME value`` lines: the op codes the host passes to the kernels."""
    return {k: int(v) for k, v in re.findall(r"^#define\s+([A-Z][A-Z0-9_]*)\s+(-?\d+)\b", source, re.M)}
