"""The scalar convolution kernels for Cortex-M (c_runtime/src/kernels/conv_mcu.c).

On M-profile Arm they replace the vector engine; here they are also built for
the host (-DNNBRT_MCU_KERNELS, the microcontroller scratch settings, ASan and
UBSan) and compared with nnabla's outputs (zoo) and nnb's numpy references
(FusedConv cases, random convolution/pooling geometries, every narrow 3x3
depthwise map). With arm-none-eabi-gcc and qemu-system-arm installed, lenet
and dscnn also run on the emulated Cortex-M4F (mps2-an386) through
benchmarks/mcu_kernels.py and must match nnabla there too.
"""
import os
import shutil
import sys

import numpy as np
import pytest
from layer_runs import run_random_kernels
from nnb_writer import write_nnb
from test_c_runtime import CRT, ZOO
from test_extended import (
    FUSED_PARAMS,
    _check_outputs,
    _manifest,
    _run_cli,
    check_fused,
    check_zoo_extended,
    sanitized_nnbrt,
)

MCU_FLAGS = ["-DNNBRT_MCU_KERNELS", "-DNNBRT_NO_VECTOR_EXT", "-DNNBRT_PLANE_MAX=0", "-DNNBRT_GEMM_IM2COL_MAX=0",
             "-DNNBRT_DECONV_GEMM_MAX=0"]


def _mcu_build(tmp_path_factory, extra):
    """The loader and the float kernels (no int8 ones), as the microcontroller build compiles them."""
    srcs = [CRT / "src" / "loader.c"] + sorted((CRT / "src" / "kernels").glob("*.c"))
    return sanitized_nnbrt(tmp_path_factory, "mcu", MCU_FLAGS + extra, srcs)


@pytest.fixture(scope="module")
def mcu_build(tmp_path_factory):
    return _mcu_build(tmp_path_factory, [])


@pytest.mark.parametrize("name", sorted(_manifest()))
def test_zoo_mcu(mcu_build, name, tmp_path):
    check_zoo_extended(mcu_build, name, tmp_path, "mcu kernels")


@pytest.mark.parametrize("case,alias", FUSED_PARAMS, ids=[f"{c}{'-alias' if a else ''}" for c, a in FUSED_PARAMS])
def test_fused_conv_mcu(mcu_build, case, alias, tmp_path):
    check_fused(mcu_build, case, alias, tmp_path, "mcu kernels")


def test_random_kernels_mcu(mcu_build, tmp_path):
    """The random geometries of test_kernels_random (conv, depthwise, pooling, ...) on the mcu kernels."""
    assert run_random_kernels(mcu_build, tmp_path) > 200


def test_mcu_small_variant(tmp_path_factory, tmp_path):
    """-DNNBRT_MCU_SMALL (4x4 tiles and clipped columns only): the random geometries and FusedConv cases.
    Optional (another sanitizer build): set NNB_MCU_SMALL_TEST=1."""
    if not os.environ.get("NNB_MCU_SMALL_TEST"):
        pytest.skip("optional: set NNB_MCU_SMALL_TEST=1 to build and check the -DNNBRT_MCU_SMALL variant")
    d = _mcu_build(tmp_path_factory, ["-DNNBRT_MCU_SMALL"])
    assert run_random_kernels(d, tmp_path) > 200
    for case, alias in FUSED_PARAMS:
        check_fused(d, case, alias, tmp_path, "mcu small")


@pytest.mark.parametrize("pad", [0, 1])
def test_depthwise3x3_sweep_mcu(mcu_build, pad, tmp_path):
    """3x3 depthwise, pad 0 and 1, on every small map (1..3 kernel rows inside, edge columns)."""
    rng = np.random.default_rng(5 + pad)
    for W in range(1, 12):
        for H in (1, 2, 3, 6):
            if W + 2 * pad < 3 or H + 2 * pad < 3:
                continue
            x = rng.standard_normal((1, 3, H, W)).astype(np.float32)
            w = rng.standard_normal((3, 3, 3)).astype(np.float32)
            b = rng.standard_normal(3).astype(np.float32)
            OH, OW = H + 2 * pad - 2, W + 2 * pad - 2
            v = [(list(x.shape), None), (list(w.shape), w), ([3], b), ([1, 3, OH, OW], None)]
            img = write_nnb(v, [(2, "iiIiIiIi", [1, [pad, pad], [1, 1], [1, 1], 1], [0, 1, 2], [3])], [0], [3],
                            plan={3: 0})
            xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
            ref = np.zeros((1, 3, OH, OW), np.float32) + b.reshape(1, 3, 1, 1)
            for i in range(3):
                for j in range(3):
                    ref += w[:, i, j].reshape(1, 3, 1, 1) * xp[:, :, i:i + OH, j:j + OW]
            prefix = _run_cli(mcu_build, img, [x], tmp_path)
            _check_outputs(prefix, [ref], f"depthwise {H}x{W} pad {pad} (mcu kernels)")


def test_cortex_m4_qemu():
    """lenet and dscnn on the emulated Cortex-M4F: outputs match nnabla's (benchmarks/mcu_kernels.py)."""
    for tool, pkg in (("arm-none-eabi-gcc", "gcc-arm-none-eabi"), ("qemu-system-arm", "qemu-system-arm")):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (Debian package {pkg})")
    if not ZOO.exists():
        pytest.skip(f"zoo fixtures not found at {ZOO}")
    sys.path.insert(0, str(CRT.parent / "benchmarks"))
    import mcu_kernels
    for model in ("lenet", "dscnn"):
        res = mcu_kernels.measure(model, "-O2")
        assert res["ok"], (model, res["errors"])
        assert res["total"] > 0 and all(ly["instr"] > 0 for ly in res["layers"]), res


@pytest.mark.parametrize("kind,bits", [("lut", 3), ("uniform", 5)])
def test_packed_layers_mcu(mcu_build, kind, bits, tmp_path):
    """Bit-packed weights decoded block by block into the mcu kernels (grouped, depthwise, pool + residual)."""
    from test_packed_c import run_packed_layers
    run_packed_layers(mcu_build, kind, bits, tmp_path, "mcu kernels")
