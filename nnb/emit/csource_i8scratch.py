"""The int8 convolution's scratch (``nnb_i8_conv_scratch``) as the emitted code's kernels compute it.

The figure depends on how the int8 kernels are compiled (the x86-64 host paths
need more than the portable and Cortex-M ones), so it is taken from the kernels
themselves: ``c_runtime/src/kernels/int8/*.c`` built once per kernel setting
into a small shared library (cached by the sources' hash under ``$NNB_CACHE``)
and asked through ctypes.  The emitted ``PREFIX_check()`` asks the compiled
code again, so a tree built with other settings reports it instead of running
over its scratch.
"""

from __future__ import annotations

import ctypes as C
import functools
import glob
import hashlib
import os
import shutil
import subprocess

from nnb.emit import csource_kernels as ck
from nnb.errors import NnbError

I8_DIR = os.path.join(ck.KERNELS, "int8")
CONV_FIELDS = ("n", "c", "h", "w", "o", "kh", "kw", "oh", "ow", "pad_h", "pad_w", "stride_h", "stride_w", "dil_h",
               "dil_w", "group", "in_zero", "out_zero", "act_min", "act_max", "res_zero")


POOL_FIELDS = ("n", "c", "h", "w", "oh", "ow", "kh", "kw", "stride_h", "stride_w", "pad_h", "pad_w", "including_pad")


class _ConvParams(C.Structure):
    _fields_ = [(n, C.c_int32) for n in CONV_FIELDS]


class _PoolParams(C.Structure):
    _fields_ = [(n, C.c_int32) for n in POOL_FIELDS]


def _cache_dir() -> str:
    return os.path.join(os.environ.get("NNB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "nnb"),
                        "emitc", "i8scratch")


@functools.lru_cache(maxsize=4)
def _lib(defines: tuple[str, ...]) -> C.CDLL:
    srcs = sorted(glob.glob(os.path.join(I8_DIR, "*.c")))
    hdrs = sorted(glob.glob(os.path.join(I8_DIR, "*.h")))
    cc = next((c for c in (os.environ.get("CC"), "cc", "gcc", "clang") if c and shutil.which(c)), None)
    if cc is None:
        raise NnbError("no C compiler found (cc, gcc or clang) for the int8 kernels' scratch figures: "
                       "apt-get install gcc")
    flags = ["-std=c99", "-O1", "-fPIC", "-shared"] + [f"-D{d}" for d in defines]
    h = hashlib.sha256(" ".join([cc] + flags).encode())
    for p in srcs + hdrs:
        with open(p, "rb") as f:
            h.update(f.read())
    path = os.path.join(_cache_dir(), f"i8scratch-{h.hexdigest()[:20]}.so")
    if not os.path.exists(path):
        os.makedirs(_cache_dir(), exist_ok=True)
        part = f"{path}.{os.getpid()}"
        r = subprocess.run([cc, *flags, "-o", part, *srcs], capture_output=True, text=True)
        if r.returncode != 0:
            msg = [ln for ln in r.stderr.splitlines() if "error" in ln] or ["unknown error"]
            raise NnbError(f"building the int8 kernels for their scratch figures failed: {msg[0].strip()}")
        os.replace(part, path)
    so = C.CDLL(path)
    so.nnb_i8_conv_scratch.restype = C.c_size_t
    so.nnb_i8_conv_scratch.argtypes = [C.POINTER(_ConvParams)]
    for fn in (so.nnb_i8_conv_pool_scratch, so.nnb_i8_qconv_scratch):
        fn.restype = C.c_size_t
        fn.argtypes = [C.POINTER(_ConvParams), C.POINTER(_PoolParams), C.c_int]
    return so


def conv_scratch(params: dict[str, int], defines: tuple[str, ...]) -> int:
    """int16 elements of scratch ``nnb_i8_conv2d`` needs for these parameters, compiled with ``defines``."""
    p = _ConvParams(*(int(params[k]) for k in CONV_FIELDS))
    return int(_lib(tuple(defines)).nnb_i8_conv_scratch(C.byref(p)))


def conv_pool_scratch(params: dict[str, int], pool: list[int] | None, defines: tuple[str, ...],
                      quantize: bool = False) -> int:
    """Bytes of scratch ``nnb_i8_conv_pool`` (``pool``: the nnb_i8_pool_params values in order) or, with
    ``quantize``, ``nnb_i8_qconv`` (``pool`` None: no pool) needs on any CPU the code is compiled for
    (int8/conv_pool.c); 0 when the kernel refuses the geometry."""
    so = _lib(tuple(defines))
    p = _ConvParams(*(int(params[k]) for k in CONV_FIELDS))
    pp = None if pool is None else C.byref(_PoolParams(*(int(v) for v in pool)))
    fn = so.nnb_i8_qconv_scratch if quantize else so.nnb_i8_conv_pool_scratch
    return int(fn(C.byref(p), pp, 0))
