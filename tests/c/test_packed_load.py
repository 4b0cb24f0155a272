"""Weights packed once at load (c_runtime: internal.h NNBRT_PREPARE, conv_engine.c nnbrt_pack_*).

The default x86-64 build re-lays the weights of small 1x1 stride-1 and strided convolutions (FusedConv and
Convolution) out into the engine's tile order in nnbrt_init, into a part of the caller's arena ("packed
weights"); 3x3 stride-1 layers the Winograd form takes get their transformed weights there (AVX2 and
AVX-512, conv_r8wino.h; tests/c/test_conv_r8wino.py checks its results). Checked:
- random 1x1 and strided layers (and some the rule leaves unpacked) with odd shapes (channels not
  multiples of the vector width or of the channel block, pixel counts below, at and between the tile
  widths, odd output rows, stride 2 and 3, dilation, padding, batch > 1, bias or not, ReLU/ReLU6, a
  residual, also written over by the output) match the numpy reference in every build and ISA level (the
  default build at avx512/avx2/base, REF, ASan/UBSan at three levels), and packed == unpacked
  (NNBRT_PACK=0) to float reordering;
- the arena nnbrt_arena_size reports grows by exactly the packed bytes (table + 64-aligned blocks of the
  ISA's channel block, bias folded in, tap offsets), which `nnbrt info` prints as its own part, and by
  the strided form's larger scratch (phase planes) if any; REF has none;
- `nnbrt run -p` (nnbrt_run_range from a function other than the first) under ASan/UBSan;
- mutated and truncated copies of such a file are refused or run cleanly under ASan/UBSan (fuzz_nnb:
  nothing is prepared from data that failed validation).
"""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from layer_runs import ENV, build_dir, build_params, fused_layer, layers_image, run_layers

# (C, OC, H, W, batch, act, residual, alias_res, bias, kernel, stride, pad, dilation)
SHAPES = [
    (16, 48, 16, 16, 1, "relu6", False, False, True, 1, 1, 0, 1),  # mbv2's expansion
    (48, 16, 16, 16, 1, "", True, True, True, 1, 1, 0, 1),         # mbv2's projection + residual, in place
    (5, 7, 9, 7, 1, "relu", False, False, False, 1, 1, 0, 1),      # P = 63: overlapping last tile; 7 channels
    (3, 13, 4, 5, 1, "relu6", True, False, True, 1, 1, 0, 1),      # P = 20: between the 16- and 32-column tiles
    (17, 9, 4, 4, 2, "", True, True, False, 1, 1, 0, 1),           # P = 16, batch 2, residual in place
    (64, 24, 8, 8, 1, "", False, False, True, 1, 1, 0, 1),         # mbv2's last 1x1
    (1, 1, 1, 33, 1, "relu", False, False, True, 1, 1, 0, 1),      # one channel each way: not packed
    (33, 70, 6, 11, 3, "relu", True, False, True, 1, 1, 0, 1),     # batch 3, 70 channels (8 and 6 blocks + rest)
    (3, 16, 32, 32, 1, "relu6", False, False, True, 3, 2, 1, 1),   # mbv2's first layer (strided form)
    (5, 11, 35, 37, 2, "relu", True, True, True, 3, 2, 1, 1),      # 18 x 19 output: odd rows, overlapping tiles
    (4, 9, 17, 41, 1, "", True, False, False, 2, 2, 0, 1),         # 2x2 stride 2 unpadded, one output row pair+1
    (2, 6, 19, 52, 1, "relu", False, False, True, 3, 3, 2, 2),     # stride 3, dilation 2, padding 2
    (3, 8, 3, 64, 1, "", False, False, True, 3, 2, 1, 1),          # OH = 2: one row pair
    (3, 8, 2, 64, 1, "relu6", True, False, True, 2, 2, 0, 1),      # OH = 1: single-row tiles
    (6, 12, 20, 40, 1, "", False, False, True, 1, 2, 0, 1),        # 1x1 stride 2: not packed (one phase of 4)
    (8, 1, 16, 16, 1, "relu", False, False, True, 1, 1, 0, 1),     # one output channel: not packed
    (16, 16, 8, 8, 1, "", False, False, True, 3, 1, 1, 1),         # stride 1 3x3: Winograd (AVX2, AVX-512)
    (64, 64, 5, 25, 1, "relu", False, False, True, 1, 1, 0, 1),    # dscnn's 1x1: 4096 weights, not packed
]
PMR = {"avx512": 8, "avx2": 6, "base": 6}  # the engine's output-channel block per ISA (conv_engine.c PMR)
PV = {"avx512": 16, "avx2": 8, "base": 4}  # floats per vector
WR = {"avx512": 8, "avx2": 4}  # the Winograd form's output-channel block (conv_r8wino.h; none in SSE2)


def _out(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _cases() -> list:
    rng = np.random.default_rng(20261129)
    layers = []
    for c, oc, h, w, n, act, res, alias, bias, k, st, p, d in SHAPES:
        x = rng.standard_normal((n, c, h, w)).astype(np.float32)
        wt = (rng.standard_normal((oc, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32)
        case = dict(p=[p, p], s=[st, st], d=[d, d], act=act, residual=res, bias=bias, alias_res=alias)
        b, r, y, args = fused_layer(case, x, wt, 1, rng)
        layers.append((case, x, wt, b, r, y, args))
    return layers


def _packed_bytes(isa: str) -> int:
    """What the engine packs for SHAPES at this ISA (conv_engine.c pk_plan): an 8-byte table entry a layer
    (64-aligned), then per layer ceil(OC / PMR) blocks of PMR biases + K x PMR weights and K tap offsets
    (K = C * kernel^2), 64-aligned. 1x1 stride 1: at least one vector of pixels; strided: output rows at
    least a vector wide, phase planes within 32768 floats."""
    n, total = 0, 0
    for c, oc, h, w, _b, _a, _r, _al, _bi, k, st, p, d in SHAPES:
        oh, ow = _out(h, k, st, p, d), _out(w, k, st, p, d)
        tw, t = ow // 2, oh // 2 * (ow // 2)
        if (isa in WR and k == 3 and st == 1 and d == 1 and c >= 16 and oc >= 8 and p <= 2 and oh % 2 == 0
                and ow % 2 == 0 and (tw % PV[isa] == 0 or (PV[isa] % tw == 0 and t % PV[isa] == 0))):
            # the Winograd form (conv_r8wino.h): 16 transformed weights per (block channel, C), then the biases
            nb = -(-oc // WR[isa])
            n += 1
            total += -(-((16 * c + 1) * nb * WR[isa] * 4) // 64) * 64
            continue
        blocks = -(-oc // PMR[isa])
        if blocks * PMR[isa] * 3 > oc * 4:
            ok = False
        elif k == 1 and st == 1 and p == 0:
            ok = oh * ow >= PV[isa] and c * oc <= 3072
        else:
            hq, lq = -(-(h + 2 * p) // st), -(-(w + 2 * p) // st)
            ok = st >= 2 and k > 1 and ow >= PV[isa] and c * st * st * hq * lq <= 32768
        if not ok:
            continue
        kk = c * k * k
        n += 1
        total += -(-((-(-oc // PMR[isa]) * PMR[isa] * (kk + 1) + kk) * 4) // 64) * 64
    return -(-8 * n // 64) * 64 + total


_IMAGE: list = []


def _model() -> tuple:
    if not _IMAGE:
        _IMAGE.append(layers_image(_cases()))
    return _IMAGE[0]


def _info(bindir, path, **env) -> dict:  # noqa: ANN001
    r = subprocess.run([str(bindir / "nnbrt"), "info", str(path)], capture_output=True, text=True,
                       env=dict(ENV, **env))
    assert r.returncode == 0, r.stderr
    m = re.search(r"arena bytes: (\d+) = tables \d+ \+ inputs/outputs \d+ \+ tensors \d+ \+ kernel scratch (\d+) "
                  r"\+ packed weights (\d+)", r.stdout)
    assert m, r.stdout
    return {"arena": int(m.group(1)), "scratch": int(m.group(2)), "packed": int(m.group(3)), "isa": r.stdout}


B_PARAMS, B_IDS = build_params()


@pytest.mark.parametrize("build,isa", B_PARAMS, ids=B_IDS)
def test_packed_layers_match_reference(build, isa, tmp_path):
    bindir = build_dir(build)
    if isa and f"dispatch: {isa}" not in _info(bindir, _write(tmp_path), NNBRT_ISA=isa)["isa"]:
        pytest.skip(f"this CPU does not run {isa}")
    run_layers(bindir, isa, _model(), tmp_path, f"{build} {isa or 'default'}")


def _write(tmp_path):  # noqa: ANN202 - a Path
    p = tmp_path / "packed.nnb"
    p.write_bytes(_model()[0])
    return p


@pytest.mark.parametrize("isa", ["avx512", "avx2", "base"])
def test_arena_includes_packed_bytes_exactly(isa, tmp_path):
    bindir = build_dir("normal")
    path = _write(tmp_path)
    on = _info(bindir, path, NNBRT_ISA=isa)
    if f"dispatch: {isa}" not in on["isa"]:
        pytest.skip(f"this CPU does not run {isa}: {on['isa'].splitlines()[1]}")
    off = _info(bindir, path, NNBRT_ISA=isa, NNBRT_PACK="0")
    assert on["packed"] == _packed_bytes(isa) > 0
    assert off["packed"] == 0
    assert on["scratch"] >= off["scratch"]
    assert on["arena"] - on["packed"] - on["scratch"] == off["arena"] - off["scratch"]
    # the build without load-time packing (REF) has none and runs the same file
    assert _info(build_dir("ref"), path)["packed"] == 0


@pytest.mark.parametrize("isa", ["avx512", "base"])
def test_packed_equals_unpacked(isa, tmp_path):
    bindir = build_dir("normal")
    image, ins, refs, names = _model()
    path = _write(tmp_path)
    files = []
    for k, x in enumerate(ins):
        f = tmp_path / f"in{k}.bin"
        np.asarray(x, "<f4").tofile(f)
        files.append(str(f))
    outs = {}
    for pack in ("1", "0"):
        prefix = str(tmp_path / f"o{pack}_")
        r = subprocess.run([str(bindir / "nnbrt"), "run", str(path), *files, "-o", prefix, "-t", "3"],
                           capture_output=True, text=True, env=dict(ENV, NNBRT_ISA=isa, NNBRT_PACK=pack))
        assert r.returncode == 0, r.stderr
        outs[pack] = [np.fromfile(f"{prefix}{k}.bin", dtype="<f4") for k in range(len(refs))]
    for k, (a, b) in enumerate(zip(outs["1"], outs["0"])):
        scale = max(1.0, float(np.max(np.abs(b))))
        assert float(np.max(np.abs(a - b))) <= 2e-6 * scale, names[k]


def test_profile_run_range_sanitized(tmp_path):
    """nnbrt run -p runs every function alone (nnbrt_run_range from each index): the table walk starts mid-way."""
    san = build_dir("san")
    _, ins, _, _ = _model()
    files = []
    for k, x in enumerate(ins):
        f = tmp_path / f"in{k}.bin"
        np.asarray(x, "<f4").tofile(f)
        files.append(str(f))
    r = subprocess.run([str(san / "nnbrt"), "run", str(_write(tmp_path)), *files, "-o", str(tmp_path / "p"),
                        "-t", "2", "-p"], capture_output=True, text=True, env=ENV)
    assert r.returncode == 0 and "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr[-3000:]
    assert _info(san, _write(tmp_path))["packed"] > 0


def test_mutants_fail_cleanly_sanitized(tmp_path):
    """Byte-level mutants (flips, boundary values, truncation) of a file with packed layers: refused with a
    status or run, never a sanitizer report (fuzz_nnb under ASan/UBSan)."""
    san = build_dir("san")
    seed = _write(tmp_path)
    r = subprocess.run([str(san / "fuzz_nnb"), "-n", "1000", "-m", "1000000", "-s", "777", str(seed)],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0 and "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, \
        (r.stdout + r.stderr)[-3000:]
    # 20 truncations: a clean refusal each time (nnbrt info exits 1 or 2, never crashes)
    data = seed.read_bytes()
    for cut in range(0, len(data), max(64, len(data) // 20)):
        t = tmp_path / "cut.nnb"
        t.write_bytes(data[:cut])
        r = subprocess.run([str(san / "nnbrt"), "info", str(t)], capture_output=True, text=True, env=ENV)
        assert r.returncode != 0 and "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, \
            (cut, r.stderr[-2000:])
