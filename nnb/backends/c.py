"""The nnb C runtime from Python, through cffi (ABI mode: dlopen of libnnbrt.so).

The library is brought up to date from ``c_runtime/`` (incremental make) on first use (gcc
and make needed).  Each :class:`CNet` owns its image and arena (numpy buffers),
so no memory is allocated by the C side.
"""

from __future__ import annotations

import os
import subprocess
import threading

import numpy as np

from nnb.errors import NnbError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
C_RUNTIME = os.path.join(ROOT, "c_runtime")

CDEF = """
typedef int nnbrt_status;
typedef struct nnbrt_net nnbrt_net;
const char *nnbrt_status_str(nnbrt_status st);
const char *nnbrt_kernel_isa(void);
nnbrt_status nnbrt_arena_size(const void *image, size_t image_len, size_t *bytes);
nnbrt_status nnbrt_init(nnbrt_net **net, const void *image, size_t image_len, void *arena, size_t arena_len);
nnbrt_status nnbrt_run(nnbrt_net *net);
int nnbrt_num_inputs(const nnbrt_net *net);
int nnbrt_num_outputs(const nnbrt_net *net);
nnbrt_status nnbrt_input(nnbrt_net *net, int i, float **data, const int32_t **shape, int *ndim);
nnbrt_status nnbrt_output(nnbrt_net *net, int i, float **data, const int32_t **shape, int *ndim);
typedef struct { size_t tables, io, tensors, scratch, total; } nnbrt_arena_info;
nnbrt_status nnbrt_get_arena_info(const nnbrt_net *net, nnbrt_arena_info *info);
"""

_lock = threading.Lock()
_loaded: dict[str, tuple] = {}
_build_lock = threading.Lock()
_built: set[str] = set()  # variants brought up to date by this process


def build_library(force: bool = False, variant: str = "") -> str:
    """Bring c_runtime/<build dir>/libnnbrt.so up to date and return its path.

    ``variant``: "" the default -O3 build (on x86-64 its convolution kernels are picked at run time: SSE2, AVX2
    or AVX-512), "PORTABLE" the baseline instruction set only, "REF" the plain reference kernels, "NATIVE"
    -march=native (this machine only), "SMALL" the microcontroller scratch settings (smallest arena).

    The incremental ``make -s`` runs once per process and variant (about 30 ms when nothing changed), so a build
    directory left from older sources (a kernel added since) is rebuilt instead of answering "no kernel". Two
    processes building the same directory take turns on an flock of <build dir>/.build.lock (gcc and ld write their
    outputs in place). Without the sources (no Makefile) an existing library is used as it is.
    """
    build = {"": "build", "REF": "build-ref", "NATIVE": "build-native", "PORTABLE": "build-portable",
             "SMALL": "build-small"}[variant]
    lib = os.path.join(C_RUNTIME, build, "libnnbrt.so")
    with _build_lock:
        if variant in _built and not force:
            return lib
        if not os.path.exists(os.path.join(C_RUNTIME, "Makefile")):
            if os.path.exists(lib):
                return lib
            raise NnbError(f"the C runtime sources are not at {C_RUNTIME}")
        _make(build, variant)
        if not os.path.exists(lib):
            raise NnbError(f"building the C runtime failed: make did not write {lib}")
        _built.add(variant)
    return lib


def _make(build: str, variant: str) -> None:
    """``make -s`` of one build directory, holding its lock file against another process building it."""
    import fcntl

    os.makedirs(os.path.join(C_RUNTIME, build), exist_ok=True)
    cmd = ["make", "-C", C_RUNTIME, "-s"] + ([f"{variant}=1"] if variant else [])
    with open(os.path.join(C_RUNTIME, build, ".build.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
        except FileNotFoundError:
            raise NnbError("cannot build the C runtime: 'make' is not installed (apt-get install make gcc)") from None
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    if r.returncode != 0:
        lines = (r.stderr or r.stdout).strip().splitlines()
        first = [ln for ln in lines if "error:" in ln][:1] or lines[-1:] or ["unknown error"]  # the compiler's line
        raise NnbError(f"building the C runtime failed: {first[0]}")


def _library(variant: str = ""):  # noqa: ANN202 - cffi objects
    with _lock:
        if variant not in _loaded:
            from cffi import FFI

            ffi = FFI()
            ffi.cdef(CDEF)
            _loaded[variant] = (ffi, ffi.dlopen(build_library(variant=variant)))
    return _loaded[variant]


def kernel_isa(variant: str = "") -> str:
    """Which convolution kernels the build runs, e.g. "x86-64 dispatch: avx512" (nnbrt_kernel_isa)."""
    ffi, lib = _library(variant)
    return ffi.string(lib.nnbrt_kernel_isa()).decode()


def copy_inputs(dsts: list[np.ndarray], inputs: list[np.ndarray], where: str) -> None:
    """Copy each input into the C side's buffer of the same size (float32), or say which one does not fit."""
    if len(inputs) != len(dsts):
        raise NnbError(f"the network takes {len(dsts)} input(s), got {len(inputs)}")
    for k, (dst, x) in enumerate(zip(dsts, inputs)):
        x = np.asarray(x, dtype=np.float32)
        if x.size != dst.size:
            raise NnbError(f"input {k} has shape {x.shape}, {where} expects {dst.shape}")
        dst.reshape(-1)[:] = x.reshape(-1)


class CNet:
    """One network loaded by the C runtime from an NNB image (``variant`` "REF": reference kernels)."""

    def __init__(self, image: bytes, variant: str = "") -> None:
        ffi, lib = _library(variant)
        self._ffi, self._lib = ffi, lib
        # 16-byte aligned private copies: the runtime reads the image in place
        self._image = np.frombuffer(bytes(image) + b"\0" * 16, dtype=np.uint8)[:len(image)].copy()
        need = ffi.new("size_t *")
        self._check(lib.nnbrt_arena_size(ffi.from_buffer(self._image), len(image), need), "checking the NNB file")
        self.arena_bytes = int(need[0])
        self._arena = np.zeros(self.arena_bytes + 16, dtype=np.uint8)
        pnet = ffi.new("nnbrt_net **")
        self._check(lib.nnbrt_init(pnet, ffi.from_buffer(self._image), len(image), ffi.from_buffer(self._arena),
                                   self.arena_bytes + 16), "loading the NNB file")
        self._net = pnet[0]
        info = ffi.new("nnbrt_arena_info *")
        self._check(lib.nnbrt_get_arena_info(self._net, info), "arena info")
        # what the arena holds (bytes): runtime tables, private i/o storage, tensors (the plan), kernel scratch
        self.arena_info = {k: int(getattr(info, k)) for k in ("tables", "io", "tensors", "scratch", "total")}
        self.inputs = [self._io(lib.nnbrt_input, i) for i in range(lib.nnbrt_num_inputs(self._net))]
        self.outputs = [self._io(lib.nnbrt_output, i) for i in range(lib.nnbrt_num_outputs(self._net))]

    def _check(self, st: int, what: str) -> None:
        if st != 0:
            raise NnbError(f"C runtime: {what}: {self._ffi.string(self._lib.nnbrt_status_str(st)).decode()}")

    def _io(self, fn, i: int) -> np.ndarray:  # noqa: ANN001
        ffi = self._ffi
        data, shape, ndim = ffi.new("float **"), ffi.new("int32_t **"), ffi.new("int *")
        self._check(fn(self._net, i, data, shape, ndim), f"i/o {i}")
        dims = tuple(int(shape[0][k]) for k in range(ndim[0]))
        n = int(np.prod(dims, dtype=np.int64)) if dims else 1
        return np.frombuffer(ffi.buffer(data[0], 4 * n), dtype=np.float32).reshape(dims)

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Run once; inputs must have the file's shapes (batch as written)."""
        copy_inputs(self.inputs, inputs, "the NNB file")
        self._check(self._lib.nnbrt_run(self._net), "run")
        return [o.copy() for o in self.outputs]

    def run_batch(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Run a leading batch through a file written for a smaller batch, one slice at a time."""
        per = self.inputs[0].shape[0] if self.inputs[0].ndim else 1
        n = inputs[0].shape[0]
        if n == per:
            return self.run(inputs)
        if n % per:
            raise NnbError(f"batch of {n} does not divide into the NNB file's batch {per}")
        parts = [self.run([x[s:s + per] for x in inputs]) for s in range(0, n, per)]
        return [np.concatenate([p[k] for p in parts]) for k in range(len(self.outputs))]


def _image_for(model_path: str, graph) -> bytes:  # noqa: ANN001 - nnb.ir.Graph
    """The .nnb as given, or the model converted (packed weights for a .nnq; int8 records for a calibrated int8
    .nnq: docs/nnb_format.md "int8 models")."""
    from nnb.emit.convert import convert, load_for_convert
    from nnb.model import is_nnb

    if is_nnb(model_path):
        with open(model_path, "rb") as f:
            return f.read()
    if model_path.lower().endswith(".nnq"):
        return convert(load_for_convert(model_path)).image
    return convert(graph).image


def _int8_nnq(model_path: str) -> bool:
    """A .nnq the C runtime runs as int8 records (calibrated int8, or DQ with its int8 form)."""
    if not model_path.lower().endswith(".nnq"):
        return False
    from nnb.quantize.int8 import is_int8_model
    from nnb.quantize.qmodel import load_quantized

    return is_int8_model(load_quantized(model_path))


def run(model_path: str, graph, inputs: dict[str, np.ndarray], options: dict | None = None) -> dict:  # noqa: ANN001
    """Backend entry (nnb/backends/__init__.py): one pass through the C runtime."""
    from nnb.executor import bind_inputs

    bound = bind_inputs(graph, inputs)
    net = CNet(_image_for(model_path, graph))
    outs = net.run_batch([bound[k] for k in graph.inputs])
    return dict(zip(graph.outputs, outs))


def predict(model_path: str, graph, x: np.ndarray, options: dict | None = None) -> np.ndarray:  # noqa: ANN001
    """Backend entry: class scores of the whole data array."""
    if (options or {}).get("act") is not None and not _int8_nnq(model_path):
        raise NnbError(f"{model_path}: quantized activations of LUT-Q/DQ models are not in NNB files yet; use "
                       "--backend reference")
    try:
        net = CNet(_image_for(model_path, graph))
    except NnbError as e:
        raise NnbError(f"{model_path}: the C runtime cannot run this model ({e}){_other_backend(model_path, graph, e)}"
                       ) from None
    return net.run_batch([x])[0].reshape(len(x), -1)


def _other_backend(model_path: str, graph, err: NnbError) -> str:  # noqa: ANN001 - nnb.ir.Graph
    """Which backend to try instead: the reference for float models; for calibrated fixed/int models (which the
    float reference refuses) the integer simulation, unless the error already says so."""
    from nnb.backends.reference import _refuse_calibrated

    try:
        _refuse_calibrated(model_path, graph)
    except NnbError:
        return "" if "--backend intsim" in str(err) else "; use --backend intsim"
    return "; use --backend reference"
