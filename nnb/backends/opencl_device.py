"""OpenCL platforms and devices through pyopencl: listing, choosing, building the kernels once per device.

Program binaries are cached on disk (``$NNB_OPENCL_CACHE`` or
``~/.cache/nnb/opencl``), keyed by platform, device, driver and the hash of the
kernel source, and in memory for the process, so a model loads without a
compile after the first time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from nnb.backends.opencl_source import program_source
from nnb.errors import NnbError

GET_ONE = 'pip install "pyopencl[pocl]" or Debian\'s pocl-opencl-icd'
_lock = threading.Lock()
_programs: dict[tuple, Any] = {}
_contexts: dict[int, tuple] = {}


def cl() -> Any:  # noqa: ANN401 - the pyopencl module
    try:
        import pyopencl
    except ImportError:
        raise NnbError(f"the OpenCL backend needs pyopencl: {GET_ONE}") from None
    return pyopencl


def all_devices() -> list[tuple[Any, Any]]:
    """(platform, device) pairs in platform order; NnbError when there is no OpenCL platform."""
    pcl = cl()
    try:
        platforms = pcl.get_platforms()
    except pcl.Error:
        platforms = []
    pairs = []
    for p in platforms:
        try:
            pairs += [(p, d) for d in p.get_devices()]
        except pcl.Error:
            continue
    if not pairs:
        raise NnbError(f"no OpenCL platform or device found; install one: {GET_ONE}")
    return pairs


def device_summary(index: int, platform: Any, dev: Any) -> dict:  # noqa: ANN401
    pcl = cl()
    return {
        "index": index, "platform": platform.name.strip(), "platform_version": platform.version.strip(),
        "device": dev.name.strip(), "type": pcl.device_type.to_string(dev.type),
        "version": dev.version.strip(), "driver": dev.driver_version.strip(),
        "compute_units": dev.max_compute_units, "global_mem_bytes": dev.global_mem_size,
        "max_alloc_bytes": dev.max_mem_alloc_size, "local_mem_bytes": dev.local_mem_size,
        "max_work_group_size": dev.max_work_group_size, "mem_base_addr_align_bits": dev.mem_base_addr_align,
    }


def list_devices() -> list[dict]:
    return [device_summary(i, p, d) for i, (p, d) in enumerate(all_devices())]


def pick_device(index: int | None = None) -> Any:  # noqa: ANN401
    """Device ``index`` of :func:`list_devices` (default 0)."""
    pairs = all_devices()
    i = 0 if index is None else int(index)
    if not 0 <= i < len(pairs):
        raise NnbError(f"no OpenCL device {i} (found {len(pairs)}; see nnb devices)")
    return pairs[i][1]


def context_for(dev: Any) -> tuple[Any, Any]:  # noqa: ANN401
    """(context, in-order queue) shared by every model on the device in this process."""
    pcl = cl()
    key = dev.int_ptr
    with _lock:
        if key not in _contexts:
            ctx = pcl.Context([dev])
            _contexts[key] = (ctx, pcl.CommandQueue(ctx, dev))
    return _contexts[key]


def cache_dir() -> str:
    d = os.environ.get("NNB_OPENCL_CACHE")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "nnb", "opencl")
    return d


def _key(dev: Any, source: str, options: str) -> str:  # noqa: ANN401
    h = hashlib.sha256()
    for part in (dev.platform.name, dev.platform.version, dev.name, dev.version, dev.driver_version, options,
                 source):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:24]


def _where(source: str, line: int) -> str:
    """``file.cl:line`` of a line of the concatenated program source."""
    name, start = "program", 0
    for k, text in enumerate(source.splitlines()[:line], 1):
        m = re.match(r"/\* ---- (\S+) ---- \*/", text)
        if m:
            name, start = m.group(1), k
    return f"{name}:{line - start}"


def _log_line(pcl: Any, prg: Any, dev: Any, err: Exception, source: str) -> str:  # noqa: ANN401
    try:
        log = prg.get_build_info(dev, pcl.program_build_info.LOG) or ""
    except pcl.Error:
        log = ""
    lines = [ln.strip() for ln in (log or str(err)).splitlines() if ln.strip()]
    errs = [ln for ln in lines if "error" in ln.lower()] or lines
    errs = [re.sub(r"\S*?([^/\s]+\.cl):(\d+):\d+:", lambda m: _where(source, int(m.group(2))) + ":", ln)
            for ln in errs]
    return " | ".join(errs[:4]) or "no build log"


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Keep the compiler's own diagnostics (printed by some drivers) off the terminal: they are in the log."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def build_program(ctx: Any, dev: Any, source: str | None = None, options: str = "-cl-std=CL1.2",  # noqa: ANN401
                  use_cache: bool = True) -> Any:  # noqa: ANN401
    """The kernels built for ``dev``: from memory, from the disk cache, or compiled (and cached)."""
    pcl = cl()
    src = program_source() if source is None else source
    key = _key(dev, src, options)
    mem_key = (ctx.int_ptr, key)
    with _lock:
        if mem_key in _programs:
            return _programs[mem_key]
    path = os.path.join(cache_dir(), key + ".bin")
    prg = None
    if use_cache and os.path.exists(path):
        try:
            with open(path, "rb") as f:
                prg = pcl.Program(ctx, [dev], [f.read()]).build(options=options)
        except (pcl.Error, OSError):
            prg = None  # a stale or foreign binary: compile again
    if prg is None:
        prg = pcl.Program(ctx, src)
        try:
            with _quiet_stderr():
                prg.build(options=options, devices=[dev])
        except pcl.Error as e:
            raise NnbError(f"OpenCL kernel build failed on {dev.name.strip()}: build log: "
                           f"{_log_line(pcl, prg, dev, e, src)}") from None
        if use_cache:
            try:
                os.makedirs(cache_dir(), exist_ok=True)
                tmp = f"{path}.{os.getpid()}.tmp"
                with open(tmp, "wb") as f:
                    f.write(prg.binaries[0])
                os.replace(tmp, path)
            except OSError:
                pass  # a read-only cache only costs compile time
    with _lock:
        _programs[mem_key] = prg
    return prg


DEFAULT_LOCAL = 64


@dataclass
class Device:
    """One device ready to run models: context, queue, program (and the source it was built from)."""

    dev: Any
    ctx: Any
    queue: Any
    program: Any
    program_source: str
    _tuning: dict | None = None
    _tuning_at: str = ""
    _source_key: str = ""
    _kernel_limits: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.dev.name.strip()

    @property
    def is_cpu(self) -> bool:
        return bool(self.dev.type & cl().device_type.CPU)

    def limit(self, k: Any = None) -> int:  # noqa: ANN401 - a pyopencl Kernel
        """The largest work-group of a kernel on this device."""
        limit = self.dev.max_work_group_size
        if k is not None:
            limit = min(limit, k.get_work_group_info(cl().kernel_work_group_info.WORK_GROUP_SIZE, self.dev))
        return max(1, limit)

    def local_size(self, kernel: str, k: Any = None, items: int = 0) -> int:  # noqa: ANN401 - a pyopencl Kernel
        """Work-group size of a 1-D launch: the tuned one for (kernel, items) if known, else 64, within limits."""
        tuned = self.tuning().get(f"{kernel}|{items}")
        return max(1, min(tuned if isinstance(tuned, int) else DEFAULT_LOCAL, self.limit(k)))

    def limits(self) -> dict[str, int]:
        """The limits the work-group sizes and tiles are chosen from."""
        d = self.dev
        try:
            multiple = int(d.get_info(cl().device_info.PREFERRED_WORK_GROUP_SIZE_MULTIPLE))
        except Exception:  # an OpenCL 1.x driver without the device query: the kernels' figure is used instead
            multiple = 0
        return {"max_work_group_size": int(d.max_work_group_size), "local_mem_size": int(d.local_mem_size),
                "multiple": multiple or self.kernel_limits(None)[2]}

    def kernel_limits(self, name: str | None) -> tuple[int, int, int]:
        """(CL_KERNEL_WORK_GROUP_SIZE, CL_KERNEL_LOCAL_MEM_SIZE, CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE) of a
        kernel of the program (the first kernel's when ``name`` is None)."""
        if name not in self._kernel_limits:
            pcl = cl()
            k = pcl.Kernel(self.program, name) if name else self.program.all_kernels()[0]
            info = pcl.kernel_work_group_info
            self._kernel_limits[name] = (int(k.get_work_group_info(info.WORK_GROUP_SIZE, self.dev)),
                                         int(k.get_work_group_info(info.LOCAL_MEM_SIZE, self.dev)),
                                         int(k.get_work_group_info(info.PREFERRED_WORK_GROUP_SIZE_MULTIPLE, self.dev)))
        return self._kernel_limits[name]

    # ---- the per-device tuning cache, next to the binaries, keyed by device and kernel source:
    # {"kernel|work items": best work-group size, "tile|<layer shape>": best local-form kernel} ----
    def tuning_path(self) -> str:
        if not self._source_key:
            self._source_key = _key(self.dev, self.program_source, "")
        return os.path.join(cache_dir(), f"tune-{self._source_key}.json")

    def tuning(self) -> dict:
        path = self.tuning_path()
        if self._tuning is None or self._tuning_at != path:  # read again when the cache directory changed
            try:
                with open(path) as f:
                    self._tuning = {str(k): v if isinstance(v, str) else int(v) for k, v in json.load(f).items()}
            except (OSError, ValueError, AttributeError, TypeError):
                self._tuning = {}
            self._tuning_at = path
        return self._tuning

    def save_tuning(self, entries: dict) -> None:
        self.tuning().update(entries)
        try:
            os.makedirs(cache_dir(), exist_ok=True)
            tmp = f"{self.tuning_path()}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump(self._tuning, f, indent=0, sort_keys=True)
            os.replace(tmp, self.tuning_path())
        except OSError:
            pass


def open_device(index: int | None = None) -> Device:
    dev = pick_device(index)
    ctx, queue = context_for(dev)
    src = program_source()
    return Device(dev, ctx, queue, build_program(ctx, dev, src), src)
