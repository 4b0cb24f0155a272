"""Backend ``emit-c``: the model as emitted C source (``nnb emit-c``), compiled for the host and run.

The emitted tree is compiled once into a shared library, cached by the hash of
its files and the compiler command under ``$NNB_CACHE`` (default
``~/.cache/nnb``) ``/emitc/HASH/``, and called through cffi: ``PREFIX_check()``
once, then ``PREFIX_run(inputs..., outputs...)`` per sample batch as the file
was written (a larger batch is run slice by slice, as the C runtime backend does).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading

import numpy as np

from nnb.errors import NnbError

PREFIX = "nnbm"
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
OPT = ["-O2"]
_lock = threading.Lock()
_loaded: dict[str, object] = {}


def cache_root() -> str:
    return os.path.join(os.environ.get("NNB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "nnb"),
                        "emitc")


def _cc(cmd: list[str], cwd: str) -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        msg = [ln for ln in (r.stderr or r.stdout).splitlines() if "error" in ln] or ["unknown error"]
        raise NnbError(f"compiling the emitted C failed ({cwd}): {msg[0].strip()}")


def find_cc() -> str:
    """The host C compiler ($CC, cc, gcc or clang); NnbError naming the package when there is none."""
    for cand in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cand and shutil.which(cand):
            return cand
    raise NnbError("no C compiler found (cc, gcc or clang): apt-get install gcc")


class EmittedNet:
    """One model emitted, compiled and loaded (``emitted``: a :class:`nnb.emit.csource.Emitted`)."""

    def __init__(self, model_path: str, kernels: str = "mcu", opt: list[str] | None = None,
                 emitted=None) -> None:  # noqa: ANN001 - an Emitted rendered already (prefix PREFIX, static arena)
        from nnb.emit.csource import render

        e = emitted or render(model_path, PREFIX, "static", command="nnb emit-c (backend emit-c)", kernels=kernels)
        self.opt = list(opt or OPT)
        cc = find_cc()
        key = hashlib.sha256()
        for rel in sorted(e.files):
            key.update(rel.encode() + b"\0" + e.files[rel] + b"\0")
        key.update(" ".join([cc] + WARN + self.opt).encode())
        self.dir = os.path.join(cache_root(), key.hexdigest()[:24])
        self.model = e.model
        lib = os.path.join(self.dir, f"lib{PREFIX}.so")
        with _lock:
            if not os.path.exists(lib):
                self._build(e, cc, lib)
            self._ffi, self._lib = self._open(lib)
        st = getattr(self._lib, f"{PREFIX}_check")()
        if st != 0:
            raise NnbError(f"emitted C: {PREFIX}_check failed with status {st}")
        self._run = getattr(self._lib, f"{PREFIX}_run")
        self.inputs = [np.zeros(io.shape, np.float32) for io in e.model.inputs]
        self.outputs = [np.zeros(io.shape, np.float32) for io in e.model.outputs]
        cast = self._ffi.cast
        self._ptrs = [cast("float *", self._ffi.from_buffer(a)) for a in self.inputs + self.outputs]

    def _build(self, e, cc: str, lib: str) -> None:  # noqa: ANN001
        """Compile the model's two files and link them with the kernel objects; a kernel file is compiled
        once per content and flags (objects cached under the cache root's obj/), as models share them."""
        from nnb.emit.csource import write_tree

        tmp = self.dir + f".tmp{os.getpid()}"
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
        write_tree(e, tmp)
        # PREFIX_check() with every kernel's own argument check compiled in (the emitted Makefile's default)
        flags = WARN + self.opt + [f"-D{k}" for k in e.model.knobs] + [f"-D{e.model.upper}_CHECK_KERNELS", "-fPIC"]
        objs = []
        for rel in sorted(e.files):
            if not rel.endswith(".c") or rel.endswith("_example.c"):
                continue
            if rel.startswith("nnbrt/"):
                h = hashlib.sha256(e.files[rel] + " ".join([cc] + flags).encode())
                for dep in sorted(f for f in e.files if f.endswith(".h") and f.startswith("nnbrt/")):
                    h.update(e.files[dep])
                obj = os.path.join(cache_root(), "obj", f"{h.hexdigest()[:24]}.o")
            else:
                obj = os.path.join(tmp, rel[:-2] + ".o")
            if not os.path.exists(obj):
                os.makedirs(os.path.dirname(obj), exist_ok=True)
                part = f"{obj}.{os.getpid()}"
                _cc([cc] + flags + ["-c", rel, "-o", part], tmp)
                os.replace(part, obj)
            objs.append(obj)
        _cc([cc, "-shared", "-o", f"lib{PREFIX}.so"] + objs + ["-lm"], tmp)
        os.makedirs(os.path.dirname(self.dir), exist_ok=True)
        if os.path.isdir(self.dir):
            shutil.rmtree(self.dir)
        os.replace(tmp, self.dir)

    def _open(self, lib: str):  # noqa: ANN202 - cffi objects
        if lib in _loaded:
            return _loaded[lib]
        from cffi import FFI

        ffi = FFI()
        m = self.model
        args = [f"const float *{io.ident}" for io in m.inputs] + [f"float *{io.ident}" for io in m.outputs]
        ffi.cdef(f"int {PREFIX}_check(void); int {PREFIX}_run({', '.join(args)});")
        _loaded[lib] = (ffi, ffi.dlopen(lib))
        return _loaded[lib]

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        from nnb.backends.c import copy_inputs

        copy_inputs(self.inputs, inputs, "the emitted C")
        st = self._run(*self._ptrs)
        if st != 0:
            raise NnbError(f"emitted C: {PREFIX}_run failed with status {st}")
        return [o.copy() for o in self.outputs]

    def run_batch(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        per = self.inputs[0].shape[0] if self.inputs and self.inputs[0].ndim else 1
        n = inputs[0].shape[0] if inputs and inputs[0].ndim else 1
        if n == per or not self.inputs:
            return self.run(inputs)
        if n % per:
            raise NnbError(f"batch of {n} does not divide into the emitted batch {per}")
        parts = [self.run([x[s:s + per] for x in inputs]) for s in range(0, n, per)]
        return [np.concatenate([p[k] for p in parts]) for k in range(len(self.outputs))]


def run(model_path: str, graph, inputs: dict[str, np.ndarray], options: dict | None = None) -> dict:  # noqa: ANN001
    """Backend entry (nnb/backends/__init__.py): one pass through the emitted C."""
    from nnb.executor import bind_inputs

    bound = bind_inputs(graph, inputs)
    net = EmittedNet(model_path)
    names = [io.name for io in net.model.inputs]
    outs = net.run_batch([bound[k] for k in names])
    return dict(zip([io.name for io in net.model.outputs], outs))


def predict(model_path: str, graph, x: np.ndarray, options: dict | None = None) -> np.ndarray:  # noqa: ANN001
    """Backend entry: class scores of the whole data array."""
    if (options or {}).get("act") is not None:
        raise NnbError(f"{model_path}: quantized activations are not in the emitted C; use --backend reference")
    net = EmittedNet(model_path)
    return net.run_batch([x])[0].reshape(len(x), -1)
