"""Semantic checks of the C loader (issue 9, point 2), on hand-made NNB files.

A structurally valid file can still compute a wrong answer; the loader
refuses, each with its own status:
- a tensor read before any function writes it, in file order (functions in
  reverse order; a network output no function writes);
- a function's output sharing storage with its input where the kernel cannot
  work in place (v2 buffers and the extended plan), and writing a network input;
- two tensors live at the same time sharing storage (a later writer over a
  tensor still to be read);
- an arena above NNBRT_MAX_ARENA (a Pad of 10^9 elements): refused by sizing,
  so ``nnbrt info`` never tries to allocate it.
Valid aliasing (in-place elementwise, Reshape views read later) still runs and
matches numpy. Every case runs in the default and the ASan/UBSan builds.
"""
import struct
import subprocess

import numpy as np
import pytest
from layer_runs import write_run_files
from nnb_writer import write_nnb
from test_c_runtime import _build

X = [1, 2, 4, 4]
CONV = (265, "iiIiIiIiBB", [1, [1, 1], [1, 1], [1, 1], 1, False])
W = np.full((2, 2, 3, 3), 0.1, np.float32)
RELU = (14, "B", [False])
ADD1 = (37, "f", [1.0])   # AddScalar, legacy argument code
MUL2 = (38, "f", [2.0])   # MulScalar
STATUS = {
    "read_before_write": "tensor read before it is written",
    "alias": "output shares storage with an input",
    "live": "live tensors overlap",
    "limit": "arena above NNBRT_MAX_ARENA",
    "write_param_or_input": "bad variable",
}


@pytest.fixture(scope="module")
def builds():
    return {"normal": _build(False), "san": _build(True)}


def _fn(spec, ins, outs):
    return (*spec, ins, outs)


def _set_data_index(image: bytes, vid: int, di: int) -> bytes:
    """Point variable vid of a v2/v3 image at data index di (buffer k is -(k+1); nnb_writer
    gives every working variable its own buffer, in variable order)."""
    b = bytearray(image)
    h = struct.unpack_from("<14I", b, 0)
    index = struct.unpack_from(f"<{h[12]}I", b, 56)
    base = 56 + 4 * h[12]
    rec = struct.unpack_from(f"<{h[4]}i", b, base + index[h[5]])[vid]
    struct.pack_into("<i", b, base + index[rec] + 16, di)
    return bytes(b)


def _run(bindir, image, tmp_path, inputs):
    model, args = write_run_files(tmp_path, image, inputs)
    r = subprocess.run([str(bindir / "nnbrt"), "run", model, *args, "-o", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=60)
    assert "runtime error" not in r.stderr and "Sanitizer" not in r.stderr, r.stderr
    return r


def _bad_cases():
    x = np.ones(X, np.float32)
    cases = {}
    # v2: relu then add, written in reverse order: the add reads v1 before the relu writes it
    vs = [(X, None), (X, None), (X, None)]
    cases["reversed_v2"] = ("read_before_write",
                            write_nnb(vs, [_fn(ADD1, [1], [2]), _fn(RELU, [0], [1])], [0], [2]), [x])
    cases["reversed_ext"] = ("read_before_write",
                             write_nnb(vs, [_fn(ADD1, [1], [2]), _fn(RELU, [0], [1])], [0], [2],
                                       plan={1: 0, 2: 128}), [x])
    # a network output no function writes
    cases["unwritten_output"] = ("read_before_write",
                                 write_nnb(vs, [_fn(RELU, [0], [1])], [0], [1, 2]), [x])
    # v2: the convolution's output in the buffer of its input (a copy of x): not in-place capable
    vc = [(X, None), ([2, 2, 3, 3], W), (X, None), (X, None), (X, None)]
    conv_alias = write_nnb(vc, [_fn(MUL2, [0], [2]), _fn(CONV, [2, 1], [3]), _fn(RELU, [3], [4])], [0], [4])
    cases["conv_alias_v2"] = ("alias", _set_data_index(conv_alias, 3, -2), [x])  # v3 in v2's buffer
    cases["conv_alias_ext"] = ("alias", write_nnb(vc[:4], [_fn(MUL2, [0], [2]), _fn(CONV, [2, 1], [3])], [0], [3],
                                                  plan={2: 0, 3: 0}), [x])
    # a function writing its own input variable (the convolution above, in place)
    vs4 = [(X, None), ([2, 2, 3, 3], W), (X, None), (X, None)]
    cases["conv_writes_its_input"] = ("alias", write_nnb(
        vs4, [_fn(MUL2, [0], [2]), _fn(CONV, [2, 1], [2]), _fn(RELU, [2], [3])], [0], [3]), [x])
    # writing a network input (v2: the input has private storage, but it is the caller's)
    cases["write_network_input"] = ("write_param_or_input",
                                    write_nnb(vs, [_fn(RELU, [0], [1]), _fn(ADD1, [1], [0])], [0], [1]), [x])
    # live overlap: a = 2x, b = a + 1, c = relu(x) written over a, then d = a + c (a still to be read)
    vl = [(X, None)] * 5 + [(X, None)]
    fns = [_fn(MUL2, [0], [1]), _fn(ADD1, [1], [2]), _fn(RELU, [0], [3]), (31, "B", [False], [1, 3], [4])]
    cases["live_overlap_ext"] = ("live", write_nnb(vl[:5], fns, [0], [2, 4], plan={1: 0, 2: 128, 3: 0, 4: 256}),
                                 [x])
    cases["live_overlap_v2"] = ("live", _set_data_index(write_nnb(vl[:5], fns, [0], [2, 4]), 3, -2), [x])
    # an in-place elementwise function whose input is read again later
    fns2 = [_fn(MUL2, [0], [1]), _fn(RELU, [1], [2]), (31, "B", [False], [1, 2], [3])]
    cases["inplace_input_read_later"] = ("live", write_nnb(vl[:4], fns2, [0], [3],
                                                           plan={1: 0, 2: 0, 3: 128}), [x])
    # Pad of 10^9 elements: 4 GB of buffer
    n = 10 ** 9
    pad = (123, "iIif", [[0, n], 0, 0.0])
    cases["pad_1e9"] = ("limit", write_nnb([([1, 4], None), ([1, n + 4], None)], [_fn(pad, [0], [1])], [0], [1]),
                        [np.ones((1, 4), np.float32)])
    return cases


CASES = _bad_cases()


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused(builds, case, tmp_path):
    kind, image, inputs = CASES[case]
    for name, bindir in builds.items():
        r = _run(bindir, image, tmp_path, inputs)
        assert r.returncode == 2, f"{name}: {case} accepted (rc {r.returncode}): {r.stdout} {r.stderr}"
        assert STATUS[kind] in r.stderr, f"{name}: {case}: {r.stderr}"
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_info_does_not_allocate_huge_arena(builds, tmp_path):
    _, image, _ = CASES["pad_1e9"]
    model = tmp_path / "pad.nnb"
    model.write_bytes(image)
    # a 64 MB address-space limit: an attempt to allocate the 4 GB arena would fail differently
    r = subprocess.run(["bash", "-c", f"ulimit -v 65536; {builds['normal'] / 'nnbrt'} info {model}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and STATUS["limit"] in r.stderr, r.stderr


def test_valid_aliasing_runs(builds, tmp_path):
    """In-place elementwise chains and a Reshape view read after the view: accepted, numpy's answer."""
    x = np.linspace(-2, 2, 32, dtype=np.float32).reshape(X)
    vs = [(X, None), (X, None), (X, None), ([1, 32], None), ([1, 32], None)]
    reshape = (126, "iIB", [[1, 32], False])
    fns = [_fn(MUL2, [0], [1]), _fn(RELU, [1], [2]), _fn(reshape, [2], [3]), (31, "B", [False], [2, 2], [2])][:3]
    fns.append(_fn(ADD1, [3], [4]))
    image = write_nnb(vs, fns, [0], [2, 4], plan={1: 0, 2: 0, 3: 0, 4: 128})
    want2 = np.maximum(2 * x, 0)
    want4 = want2.reshape(1, 32) + 1
    for name, bindir in builds.items():
        r = _run(bindir, image, tmp_path, [x])
        assert r.returncode == 0, f"{name}: {r.stderr}"
        got2 = np.fromfile(tmp_path / "out0.bin", "<f4").reshape(X)
        got4 = np.fromfile(tmp_path / "out1.bin", "<f4").reshape(1, 32)
        np.testing.assert_allclose(got2, want2, rtol=1e-6)
        np.testing.assert_allclose(got4, want4, rtol=1e-6)


def test_many_input_concatenate(builds, tmp_path):
    """Functions with more than 8 inputs + outputs get their kernel check in nnbrt_init (sizing keeps
    its stack small): a valid 10-way Concatenate matches numpy, a shape mismatch is refused."""
    xs = [np.full((1, 2, 3), k, np.float32) for k in range(10)]
    vs = [([1, 2, 3], None)] * 10 + [([1, 20, 3], None)]
    cat = (74, "i", [1], list(range(10)), [10])
    image = write_nnb(vs, [cat], list(range(10)), [10])
    bad = write_nnb(vs[:10] + [([1, 21, 3], None)], [cat], list(range(10)), [10])
    for name, bindir in builds.items():
        r = _run(bindir, image, tmp_path, xs)
        assert r.returncode == 0, f"{name}: {r.stderr}"
        got = np.fromfile(tmp_path / "out0.bin", "<f4").reshape(1, 20, 3)
        np.testing.assert_array_equal(got, np.concatenate(xs, axis=1))
        r = _run(bindir, bad, tmp_path, xs)
        assert r.returncode == 2 and "variable shapes inconsistent" in r.stderr, f"{name}: {r.stderr}"
