"""Tuning of the local-memory forms: on the first use of a layer shape, time its candidate tile configurations on
the device and keep the fastest in the device's tuning cache (``Device.save_tuning``: a JSON file next to the
program binaries, keyed by device, driver and kernel source).

The candidates of a launch (``Launch.alts``, from :mod:`nnb.backends.opencl_local`) share its parameters, so a
candidate is only another kernel name, work-item count and group size run on the network's own buffers (the
outputs it writes are recomputed by every run).  Disabled by ``tune=False`` or ``NNB_OPENCL_TUNE=0``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from nnb.backends.opencl_device import cl


def tile_tuning(tune: bool | None) -> bool:
    """Tile tuning runs unless the caller or ``$NNB_OPENCL_TUNE=0`` turns it off."""
    return tune is not False and os.environ.get("NNB_OPENCL_TUNE") != "0"


def _kernel(net: Any, kernel: str, p: int, n: int, local: int) -> tuple:  # noqa: ANN401 - an OpenCLNet
    pcl = cl()
    k = pcl.Kernel(net.dev.program, kernel)
    k.set_arg(0, net.m)
    k.set_arg(1, net.P)
    k.set_arg(2, np.int32(p))
    return k, ((n + local - 1) // local * local,), (local,)


def _seconds(net: Any, launch: tuple, repeat: int) -> float:  # noqa: ANN401
    """Best of ``repeat`` runs; infinite when the driver refuses the launch (out of resources: registers)."""
    pcl, q = cl(), net.dev.queue
    k, g, loc = launch
    try:
        pcl.enqueue_nd_range_kernel(q, k, g, loc)  # the first enqueue of a group size may compile (PoCL)
        q.finish()
    except pcl.Error:
        return float("inf")
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        pcl.enqueue_nd_range_kernel(q, k, g, loc)
        q.finish()
        best = min(best, time.perf_counter() - t)
    return best


def tune_tiles(net: Any, repeat: int = 3) -> dict[str, str]:  # noqa: ANN401 - an OpenCLNet
    """Time the alternatives of every launch whose layer shape the cache does not know; switch each such launch
    (and its twins) to the fastest and save the choices.  Returns the new entries."""
    cache = net.dev.tuning()
    found: dict[str, str] = {}
    for i, ln in enumerate(net.layout.launches):
        if not ln.tune_key or len(ln.alts) < 2 or ln.tune_key in cache:
            continue
        if ln.tune_key not in found:
            times = [(_seconds(net, _kernel(net, kernel, ln.p, n, local), repeat), kernel)
                     for kernel, n, local in ln.alts]
            if min(times)[0] == float("inf"):  # none ran: keep the default, time again next time
                continue
            found[ln.tune_key] = min(times)[1]
        choice = next(a for a in ln.alts if a[0] == found[ln.tune_key])
        ln.kernel, ln.n, ln.local = choice
        net._kernels[i] = _kernel(net, ln.kernel, ln.p, ln.n, ln.local)
    if found:
        net.dev.save_tuning(found)
    return found
