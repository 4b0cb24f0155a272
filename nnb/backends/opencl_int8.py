"""int8 models on an OpenCL device: a calibrated int8 .nnq (or DQ with its int8 form) or an int8 .nnb.

The model is laid out as the int8 NNB records the C runtime runs (``write_int8_nnb``: same records, same
arena plan) and planned by :mod:`nnb.backends.opencl_int8_plan`; the integer records run the kernels of
``opencl/q8*.cl``, bit-exact with the C runtime and the numpy simulation (``--backend intsim``); float
islands run the float kernels.  Weights are uploaded once; a run writes the float inputs, enqueues every
launch on one in-order queue and reads the float outputs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nnb.backends.opencl import cached_net, launch_kernel, predict_batches
from nnb.backends.opencl_device import Device, cl, open_device
from nnb.backends.opencl_int8_plan import Int8Layout, Int8Planner
from nnb.backends.opencl_source import defines
from nnb.errors import NnbError
from nnb.quantize.int8 import Int8Model

_MB = 1 << 20


def int8_model_of(model_path: str) -> Int8Model | None:
    """The int8 model of a calibrated int8 .nnq or an int8 .nnb; None for any other model."""
    from nnb.model import is_nnb, is_nnq

    if is_nnb(model_path):
        from nnb.backends.intsim import read_model_bytes
        from nnb.emit.nnb_int8_read import is_int8_image, read_int8_nnb

        data = read_model_bytes(model_path)
        return read_int8_nnb(data, model_path) if is_int8_image(data) else None
    if is_nnq(model_path):
        from nnb.quantize import int8
        from nnb.quantize.qmodel import load_quantized

        qm = load_quantized(model_path)
        return int8.from_quantized(qm) if int8.is_int8_model(qm) else None
    return None


def rebatched(m: Int8Model, n: int) -> Int8Model:
    """The model with batch ``n`` (the float graph's shapes re-inferred; the steps index the same tensors)."""
    from nnb.backends.opencl import rebatch

    g = m.graph
    if all(g.tensors[i].shape and g.tensors[i].shape[0] == n for i in g.inputs):
        return m
    return dataclasses.replace(m, graph=rebatch(g, n))


class Int8OpenCLNet:
    """One int8 model (fixed batch) planned on one device, ready to run."""

    def __init__(self, m: Int8Model, device: Device | None = None, device_index: int | None = None,
                 keep: tuple[str, ...] = ()) -> None:
        """``keep``: tensors also returned (dequantized int8 values), after the network outputs."""
        from nnb.emit.nnb_int8 import write_int8_nnb

        self.dev = device or open_device(device_index)
        _image, d, ap = write_int8_nnb(m, extra_outputs=tuple(keep))
        self.layout: Int8Layout = Int8Planner(d, ap, defines(self.dev.program_source), cpu=self.dev.is_cpu).build()
        self._check_memory()
        pcl, lay, ctx = cl(), self.layout, self.dev.ctx
        host = np.zeros(lay.floats, np.float32)
        for off, data in lay.uploads:
            host[off:off + data.size] = data  # int8 weights travel as their bytes viewed as float32 (no arithmetic)
        mf = pcl.mem_flags
        self.m = pcl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=host)
        self.P = pcl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=lay.params)
        self._kernels = [self._kernel(ln) for ln in lay.launches]
        self.inputs = list(lay.inputs)
        self.outputs = list(lay.outputs)

    def _check_memory(self) -> None:
        d, lay = self.dev.dev, self.layout
        need = lay.floats * 4
        if need + lay.params.nbytes > d.global_mem_size or need > d.max_mem_alloc_size:
            raise NnbError(f"the model needs {(need + lay.params.nbytes) / _MB:.1f} MB on the OpenCL device; "
                           f"{self.dev.name} has {d.global_mem_size / _MB:.0f} MB "
                           f"(at most {d.max_mem_alloc_size / _MB:.0f} MB per buffer)")
        if not lay.fits_int32:
            raise NnbError("the model is too large for the OpenCL kernels' 32-bit indices")

    def _kernel(self, ln) -> tuple:  # noqa: ANN001 - a Launch
        return launch_kernel(self, ln)

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """One pass; float inputs in the graph's input order with the planned shapes; float outputs."""
        pcl = cl()
        q = self.dev.queue
        if len(inputs) != len(self.inputs):
            raise NnbError(f"the network takes {len(self.inputs)} input(s), got {len(inputs)}")
        for (name, off, shape), x in zip(self.inputs, inputs):
            x = np.ascontiguousarray(x, dtype=np.float32)
            if x.size != int(np.prod(shape, dtype=np.int64)):
                raise NnbError(f"input '{name}' has shape {x.shape}, the planned network expects {shape}")
            pcl.enqueue_copy(q, self.m, x, dst_offset=4 * off, is_blocking=False)
        outs = [np.empty(shape, np.float32) for _name, _off, shape in self.outputs]
        for k, g, loc in self._kernels:
            pcl.enqueue_nd_range_kernel(q, k, g, loc)
        for (_name, off, _shape), y in zip(self.outputs, outs):
            pcl.enqueue_copy(q, y, self.m, src_offset=4 * off, is_blocking=False)
        q.finish()
        return outs


_nets: dict[tuple, tuple[Int8Model, Int8OpenCLNet]] = {}


def net_for(m: Int8Model, batch: int, device_index: int | None = None) -> Int8OpenCLNet:
    """A planned network for ``batch`` (the last few are kept: evaluation in chunks reuses them)."""
    return cached_net(_nets, m, batch, device_index,
                      lambda: Int8OpenCLNet(rebatched(m, batch), device_index=device_index))


def run_int8(m: Int8Model, inputs: dict[str, np.ndarray], device_index: int | None = None) -> dict:
    """One forward pass of the int8 model: output name -> float array (dequantized, or an island's float)."""
    from nnb.executor import bind_inputs

    bound = bind_inputs(m.graph, inputs)
    xs = [bound[k] for k in m.graph.inputs]
    batch = xs[0].shape[0] if xs and xs[0].ndim else 1
    net = Int8OpenCLNet(_with_batch(m, batch), device_index=device_index)
    return dict(zip(m.graph.outputs, net.run(xs)))


def _with_batch(m: Int8Model, batch: int) -> Int8Model:
    try:
        return rebatched(m, batch)
    except NnbError as e:
        raise NnbError(f"int8 OpenCL: the model cannot take a batch of {batch} ({e})") from None


def predict_int8(m: Int8Model, x: np.ndarray, batch: int, device_index: int | None = None) -> np.ndarray:
    """First output for every sample of ``x``, ``batch`` samples per run (the last batch padded)."""
    return predict_batches(m.graph, x, batch, lambda b: net_for(m, b, device_index))
