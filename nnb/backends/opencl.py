"""The OpenCL backend: a compiled model run on an OpenCL device through pyopencl.

The graph is the one the C runtime runs (``nnb.passes.optimize``, or the packed
graph of a quantized model) with the same one-arena plan; the launch list comes
from :mod:`nnb.backends.opencl_plan`, the kernels from ``opencl/*.cl`` (built
once per device, binaries cached: :mod:`nnb.backends.opencl_device`).  One
float buffer holds arena, inputs and weights; weights are uploaded (and packed
ones decoded on the device) once; a run writes the inputs, enqueues every
launch on one in-order queue and reads the outputs.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from nnb.backends import opencl_fast  # noqa: F401 - registers the fast paths
from nnb.backends.opencl_device import Device, cl, open_device
from nnb.backends.opencl_local import tiles_for, wants_cpu_forms
from nnb.backends.opencl_plan import Layout, Planner
from nnb.backends.opencl_source import defines
from nnb.backends.opencl_tune import tile_tuning, tune_tiles
from nnb.errors import NnbError
from nnb.ir import Graph

DEFAULT_BATCH = 64
TUNED = ("conv", "dwconv", "deconv", "affine", "pool", "batch_matmul")  # kernels whose work-group size is tuned
DEFAULT_LOCAL = 64
_MB = 1 << 20


def model_graph(model_path: str, graph: Graph) -> Graph:
    """The graph the C runtime would run: a quantized .nnq keeps its packed weights, anything else is optimised."""
    from nnb.passes import optimize

    if model_path.lower().endswith(".nnq"):
        from nnb.emit.convert import convert, load_for_convert

        return convert(load_for_convert(model_path)).graph
    return optimize(graph)


def rebatch(g: Graph, n: int) -> Graph:
    """The graph with every input's leading axis set to ``n`` (shapes re-inferred)."""
    if all(g.tensors[i].shape and g.tensors[i].shape[0] == n for i in g.inputs):
        return g
    shapes = g.infer_shapes({i: (n,) + tuple(g.tensors[i].shape[1:]) for i in g.inputs})
    tensors = {k: (dataclasses.replace(t, shape=shapes[k]) if t.kind != "param" and k in shapes else t)
               for k, t in g.tensors.items()}
    specs = {k: ((n,) + tuple(v[1:]) if v and v[0] >= 0 else tuple(v)) for k, v in g.input_specs.items()}
    return dataclasses.replace(g, tensors=tensors, batch_size=n, input_specs=specs)


def launch_kernel(net: Any, ln: Any) -> tuple:  # noqa: ANN401 - a planned net (.dev, .m, .P) and a Launch
    """The kernel of launch ``ln`` bound to the net's buffers, with its global and local sizes."""
    pcl = cl()
    k = pcl.Kernel(net.dev.program, ln.kernel)
    k.set_arg(0, net.m)
    k.set_arg(1, net.P)
    k.set_arg(2, np.int32(ln.p))
    local = ln.local or net.dev.local_size(ln.kernel, k, ln.n)
    if ln.dims:
        gsize = tuple((d + lc - 1) // lc * lc for d, lc in zip(ln.dims, local))
        return k, gsize, tuple(local)
    return k, ((ln.n + local - 1) // local * local,), (local,)


class OpenCLNet:
    """One planned graph (fixed shapes) on one device, ready to run."""

    def __init__(self, graph: Graph, device: Device | None = None, device_index: int | None = None,
                 cpu_forms: bool | None = None, tune: bool | None = None) -> None:
        """``cpu_forms``: plan the kernel forms for a CPU device (default: whether the device is a CPU).
        ``tune``: time the work-group sizes of the heavy launches not yet in the device's tuning cache
        (default: $NNB_OPENCL_TUNE=1); tuned sizes are used whenever cached.  The local-memory forms' tile
        configurations of layer shapes not in the cache are timed unless ``tune`` is False or $NNB_OPENCL_TUNE=0."""
        self.dev = device or open_device(device_index)
        self.graph = graph
        cpu = wants_cpu_forms(self.dev.is_cpu) if cpu_forms is None else cpu_forms
        codes = defines(self.dev.program_source)
        tiles = tiles_for(self.dev)  # conv/affine in local-memory tiles (GPUs; $NNB_OCL_FORMS): opencl_local
        planner = Planner(graph, codes, cpu=cpu, tiles=tiles)
        self.layout: Layout = planner.build()
        self._check_memory()
        self.batch, self.chunk = _batch_of(graph), 0
        if cpu and self.batch:
            self.chunk = _chunk(self.batch, planner.arena.arena_bytes)
            if self.chunk:  # run the batch in chunks whose activations stay in the caches
                try:
                    self.layout = Planner(rebatch(graph, self.chunk), codes, cpu=cpu, tiles=tiles).build()
                except NnbError:  # a shape that does not follow the batch (a Reshape with the batch baked in)
                    self.chunk = 0
        pcl = cl()
        lay, ctx = self.layout, self.dev.ctx
        host = np.zeros(lay.floats, np.float32)
        for off, data in lay.uploads:
            host[off:off + data.size] = data
        mf = pcl.mem_flags
        self.m = pcl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=host)
        self.P = pcl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=lay.params)
        self._kernels = [self._kernel(ln) for ln in lay.launches]
        if lay.setup:
            codes = np.concatenate(lay.codes) if lay.codes else np.zeros(4, np.uint32)
            cbuf = pcl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=codes)
            bad = np.zeros(1, np.int32)
            bbuf = pcl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=bad)
            for ln in lay.setup:
                k, g, loc = self._kernel(ln)
                if ln.kernel == "unpack":
                    k.set_arg(3, cbuf)
                    k.set_arg(4, bbuf)
                pcl.enqueue_nd_range_kernel(self.dev.queue, k, g, loc)
            pcl.enqueue_copy(self.dev.queue, bad, bbuf)
            self.dev.queue.finish()
            if bad[0]:
                raise NnbError("packed weight: a code is outside its LUT table")
        if tiles is not None and tile_tuning(tune):  # tile configurations of new layer shapes
            tune_tiles(self)
        if tune is None:
            tune = os.environ.get("NNB_OPENCL_TUNE") == "1"
        if tune:
            self.tune()
        self.inputs = [(name, off, shape) for name, off, shape in lay.inputs]
        self.outputs = [(name, off, shape) for name, off, shape in lay.outputs]

    def _check_memory(self) -> None:
        d, lay = self.dev.dev, self.layout
        need = lay.floats * 4
        total = need + lay.params.nbytes + 4 * lay.code_words
        if need > d.max_mem_alloc_size or total > d.global_mem_size:
            raise NnbError(f"the model needs {total / _MB:.1f} MB on the OpenCL device ({need / _MB:.1f} MB in one "
                           f"buffer); {self.dev.name} has {d.global_mem_size / _MB:.0f} MB "
                           f"(at most {d.max_mem_alloc_size / _MB:.0f} MB per buffer)")
        if not lay.fits_int32:
            raise NnbError("the model is too large for the OpenCL kernels' 32-bit indices")

    def _kernel(self, ln: Any) -> tuple:  # noqa: ANN401 - a Launch
        return launch_kernel(self, ln)

    def tune(self, repeat: int = 3, candidates: tuple[int, ...] = (1, 4, 16, 32, 64, 128, 256)) -> dict:
        """Time work-group sizes for each heavy launch missing from the tuning cache; keep the best."""
        import time

        pcl = cl()
        q, found = self.dev.queue, {}
        for i, ln in enumerate(self.layout.launches):
            key = f"{ln.kernel}|{ln.n}"
            if not ln.kernel.startswith(TUNED) or key in self.dev.tuning() or key in found:
                continue
            k = self._kernels[i][0]
            best = (float("inf"), DEFAULT_LOCAL)
            for loc in candidates:
                if loc > self.dev.limit(k):
                    break
                g = ((ln.n + loc - 1) // loc * loc,)
                pcl.enqueue_nd_range_kernel(q, k, g, (loc,))  # first enqueue of a size may compile
                q.finish()
                t = time.perf_counter()
                for _ in range(repeat):
                    pcl.enqueue_nd_range_kernel(q, k, g, (loc,))
                q.finish()
                best = min(best, ((time.perf_counter() - t) / repeat, loc))
            found[key] = best[1]
        if found:
            self.dev.save_tuning(found)
            self._kernels = [self._kernel(ln) for ln in self.layout.launches]
        return found

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """One pass; inputs in the graph's input order, with the planned shapes."""
        pcl = cl()
        q = self.dev.queue
        if len(inputs) != len(self.inputs):
            raise NnbError(f"the network takes {len(self.inputs)} input(s), got {len(inputs)}")
        parts = self.batch // self.chunk if self.chunk else 1
        keep = []
        for (name, _off, shape), x in zip(self.inputs, inputs):
            x = np.ascontiguousarray(x, dtype=np.float32)
            if x.size != parts * int(np.prod(shape, dtype=np.int64)):
                want = (self.batch,) + tuple(shape[1:]) if self.chunk else shape
                raise NnbError(f"input '{name}' has shape {x.shape}, the planned network expects {want}")
            keep.append(x.reshape(parts, -1))
        outs = [np.empty((parts, max(1, int(np.prod(shape, dtype=np.int64)))), np.float32)
                for _name, _off, shape in self.outputs]
        for c in range(parts):  # one in-order queue: the chunks follow each other without a wait
            for (_name, off, _shape), x in zip(self.inputs, keep):
                pcl.enqueue_copy(q, self.m, x[c], dst_offset=4 * off, is_blocking=False)
            for k, g, loc in self._kernels:
                pcl.enqueue_nd_range_kernel(q, k, g, loc)
            for (_name, off, _shape), y in zip(self.outputs, outs):
                pcl.enqueue_copy(q, y[c], self.m, src_offset=4 * off, is_blocking=False)
        q.finish()
        return [y.reshape((parts * shape[0],) + tuple(shape[1:])) if self.chunk else y.reshape(shape)
                for y, (_name, _off, shape) in zip(outs, self.outputs)]

    def profile(self, inputs: list[np.ndarray], repeat: int = 3) -> list[tuple[str, str, int, float]]:
        """(node, kernel, MACs, best seconds) per launch, timed one launch at a time."""
        import time

        pcl = cl()
        self.run(inputs)
        out = []
        for ln, (k, g, loc) in zip(self.layout.launches, self._kernels):
            best = float("inf")
            for _ in range(repeat):
                t = time.perf_counter()
                pcl.enqueue_nd_range_kernel(self.dev.queue, k, g, loc)
                self.dev.queue.finish()
                best = min(best, time.perf_counter() - t)
            out.append((ln.node, ln.kernel, ln.macs, best))
        return out


CHUNK_BYTES = 2 << 20  # activations of one chunk of a batch on a CPU device: about the cores' L2 caches
MIN_CHUNK = 8  # samples: fewer make launches too small to spread over the cores


def _batch_of(g: Graph) -> int:
    """The leading axis every activation shares (0 when some tensor mixes samples: no chunking)."""
    sizes = {t.shape[0] if t.shape else 0 for t in g.tensors.values() if t.kind != "param"}
    return sizes.pop() if len(sizes) == 1 else 0


def _chunk(batch: int, arena_bytes: int) -> int:
    """Samples per chunk when a batch's activations outgrow the caches (0: run the batch whole).

    Only past twice CHUNK_BYTES: every chunk repeats every launch, and each launch ends with the cores waiting for
    each other (dscnn at batch 64, 4 MB, ran slower in 2 chunks on a busy machine; resnet8, 8 MB, faster in 4)."""
    if arena_bytes <= 2 * CHUNK_BYTES:
        return 0
    chunk = batch
    while chunk % 2 == 0 and chunk // 2 >= MIN_CHUNK and arena_bytes * chunk // batch > CHUNK_BYTES:
        chunk //= 2
    return chunk if chunk < batch else 0


_nets: dict[tuple, tuple[Graph, OpenCLNet]] = {}
_KEEP = 4  # planned networks kept per process (each holds its graph, so an id is never reused while cached)


def cached_net(nets: dict, model: Any, batch: int, device_index: int | None, plan: Any) -> Any:  # noqa: ANN401
    """``plan()``'s network for ``model`` at ``batch``, kept in ``nets`` (the last ``_KEEP``; each entry holds its
    model, so an id is never reused while cached)."""
    key = (id(model), batch, device_index)
    hit = nets.get(key)
    if hit is None or hit[0] is not model:
        while len(nets) >= _KEEP:
            nets.pop(next(iter(nets)))
        hit = nets[key] = (model, plan())
    return hit[1]


def net_for(graph: Graph, batch: int, device_index: int | None = None) -> OpenCLNet:
    """A planned network for ``batch`` (the last few are kept: evaluation in chunks reuses them)."""
    return cached_net(_nets, graph, batch, device_index,
                      lambda: OpenCLNet(rebatch(graph, batch), device_index=device_index))


def _device_index(options: dict | None) -> int | None:
    d = (options or {}).get("device")
    if d in (None, ""):
        return None
    try:
        return int(d)
    except (TypeError, ValueError):
        raise NnbError(f"--device wants an OpenCL device number (see nnb devices), got '{d}'") from None


def _driver_errors(fn):  # noqa: ANN001, ANN202 - a decorator
    """An error the OpenCL driver raises (out of resources, lost device) -> one NnbError line."""
    import functools

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        try:
            return fn(*args, **kwargs)
        except NnbError:
            raise
        except Exception as e:
            if type(e).__module__.startswith("pyopencl"):
                raise NnbError(f"OpenCL: {' '.join(str(e).split())}") from None
            raise

    return wrapped


@_driver_errors
def run(model_path: str, graph: Graph, inputs: dict[str, np.ndarray], options: dict | None = None) -> dict:
    """Backend entry (nnb/backends/__init__.py): one pass on the OpenCL device."""
    from nnb.backends import opencl_int8
    from nnb.executor import bind_inputs

    m8 = opencl_int8.int8_model_of(model_path)  # an int8 model runs its integer records (opencl/q8*.cl)
    if m8 is not None:
        return opencl_int8.run_int8(m8, inputs, _device_index(options))
    bound = bind_inputs(graph, inputs)
    g = model_graph(model_path, graph)
    xs = [bound[k] for k in g.inputs]
    batch = xs[0].shape[0] if xs and xs[0].ndim else 1
    net = OpenCLNet(rebatch(g, batch), device_index=_device_index(options))
    outs = net.run(xs)
    return dict(zip(g.outputs, outs))


@_driver_errors
def predict(model_path: str, graph: Graph, x: np.ndarray, options: dict | None = None) -> np.ndarray:
    """Backend entry: class scores of the whole data array, ``batch`` (default 64) samples per run."""
    from nnb.backends import opencl_int8

    m8 = opencl_int8.int8_model_of(model_path)
    if m8 is not None:
        batch = min(int((options or {}).get("batch") or DEFAULT_BATCH), len(x))
        return opencl_int8.predict_int8(m8, x, batch, _device_index(options))
    if (options or {}).get("act") is not None:
        raise NnbError(f"{model_path}: quantized activations are not in the OpenCL backend; use --backend reference")
    g = model_graph(model_path, graph)
    batch = min(int((options or {}).get("batch") or DEFAULT_BATCH), len(x))
    return predict_graph(g, x, batch, _device_index(options))


def predict_graph(g: Graph, x: np.ndarray, batch: int, device_index: int | None = None) -> np.ndarray:
    """First output of ``g`` for every sample of ``x``; the last partial batch is padded."""
    return predict_batches(g, x, batch, lambda b: net_for(g, b, device_index))


def predict_batches(g: Graph, x: np.ndarray, batch: int, net_of: Any) -> np.ndarray:  # noqa: ANN401 - batch -> net
    """First output for every sample of ``x`` through ``net_of(batch)`` (the float graph ``g`` gives the file's
    batch when a Reshape bakes it in); the last partial batch is padded."""
    try:
        net = net_of(batch)
    except NnbError as e:
        if "Reshape" not in str(e):
            raise
        batch = g.tensors[g.inputs[0]].shape[0]  # the file's batch is baked into a Reshape
        net = net_of(batch)
    parts = []
    for s in range(0, len(x), batch):
        xb = np.asarray(x[s:s + batch], np.float32)
        n = len(xb)
        if n < batch:
            xb = np.concatenate([xb, np.zeros((batch - n,) + xb.shape[1:], np.float32)])
        parts.append(net.run([xb])[0][:n])
    return np.concatenate(parts).reshape(len(x), -1)


def reference_check(model_path: str, graph: Graph, x: np.ndarray, want: np.ndarray,
                    device_index: int | None = None) -> tuple[bool, str]:
    """(matches, one line) for ``nnb demo``: the model's scores on the first OpenCL device vs the reference's.

    No device (or pyopencl) is not an error here: the line says the check was skipped and why."""
    try:
        dev = open_device(device_index)
        got = predict_graph(model_graph(model_path, graph), x, DEFAULT_BATCH, device_index)
    except NnbError as e:
        return True, f"OpenCL: skipped ({e})"
    want = np.asarray(want).reshape(len(x), -1)
    same = int((got.argmax(axis=1) == want.argmax(axis=1)).sum())
    diff = float(np.abs(got - want).max()) if got.size else 0.0
    ok = same == len(x) and diff <= 1e-4 * max(1.0, float(np.abs(want).max()))
    return ok, (f"OpenCL on {dev.name}: {same}/{len(x)} predictions as the reference, max |diff| {diff:.2g} "
                f"-> {'matches' if ok else 'DIFFERS'}")
