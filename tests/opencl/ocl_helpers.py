"""The OpenCL device the tests share: one program build per process, binaries cached on disk."""

from __future__ import annotations

import functools

import pytest


@functools.cache
def _open():  # noqa: ANN202 - Device | str
    try:
        import pyopencl  # noqa: F401
    except ImportError:
        return 'pyopencl is not installed (pip install "pyopencl[pocl]")'
    from nnb.backends.opencl_device import open_device
    from nnb.errors import NnbError

    try:
        return open_device()
    except NnbError as e:
        return f"no OpenCL device: {e}"


def device():  # noqa: ANN201 - nnb.backends.opencl_device.Device
    """The first OpenCL device, or skip the test saying why there is none."""
    d = _open()
    if isinstance(d, str):
        pytest.skip(d)
    return d
