"""Tests of the C runtime in c_runtime/ against nnabla's outputs of the zoo.

Builds the runtime with make (normal and sanitizer builds), runs
`nnbrt run` on every zoo model that has a .nnb and compares each output with
NAME.out<k>.npy (max abs error <= 1e-5 * max(1, max|ref|)). Also checks that
corrupt files fail cleanly and runs the mutation fuzzer (NNB_FUZZ_ITERS
iterations, default 5000).
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CRT = REPO / "c_runtime"
ZOO = (REPO / ".." / "shared" / "fixtures" / "zoo").resolve()


def _compiler():
    cc = os.environ.get("CC", "cc")
    return shutil.which(cc.split()[0]) if cc else None


def _manifest():
    with open(ZOO / "manifest.json") as f:
        return json.load(f)["models"]


def _nnb_models():
    if not (ZOO / "manifest.json").exists():
        return []
    return sorted(n for n, m in _manifest().items() if (ZOO / f"{n}.nnb").exists())


def _build(san, ref=False, native=False):
    """make the C runtime: fast portable build, SAN=1, REF=1 or NATIVE=1 (-march=native: the
    vector paths of this machine, e.g. AVX-512, which the portable build does not compile)."""
    if _compiler() is None:
        pytest.skip("no C compiler found (set CC or install gcc/clang)")
    if not ZOO.exists():
        pytest.skip(f"zoo fixtures not found at {ZOO}")
    args = (["make", "-C", str(CRT), "-j2"] + (["SAN=1"] if san else []) + (["REF=1"] if ref else [])
            + (["NATIVE=1"] if native else []))
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return CRT / ("build-san" if san else "build-ref" if ref else "build-native" if native else "build")


@pytest.fixture(scope="session")
def build_dir():
    return _build(False)


@pytest.fixture(scope="session")
def san_dir():
    return _build(True)


@pytest.fixture(scope="session")
def ref_dir():
    """Build with the plain reference loops (-DNNBRT_REFERENCE_KERNELS)."""
    return _build(False, ref=True)


def _run_model(bindir, name, tmp_path):
    spec = _manifest()[name]
    ins = []
    for k, (vname, shape) in enumerate(spec["inputs"]):
        x = np.load(ZOO / f"{name}.in{k}.npy").astype("<f4")
        assert list(x.shape) == list(shape) or x.size == int(np.prod(shape)), vname
        p = tmp_path / f"in{k}.bin"
        x.tofile(p)
        ins.append(str(p))
    prefix = str(tmp_path / "out")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    r = subprocess.run([str(bindir / "nnbrt"), "run", str(ZOO / f"{name}.nnb"), *ins,
                        "-o", prefix], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "runtime error" not in r.stderr and "Sanitizer" not in r.stderr, r.stderr
    for k, (oname, _shape) in enumerate(spec["outputs"]):
        ref = np.load(ZOO / f"{name}.out{k}.npy").astype(np.float32)
        got = np.fromfile(f"{prefix}{k}.bin", dtype="<f4")
        assert got.size == ref.size, (name, oname, got.size, ref.size)
        err = float(np.max(np.abs(got - ref.reshape(-1)))) if ref.size else 0.0
        tol = 1e-5 * max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
        assert err <= tol, f"{name} output {k} ({oname}): max abs err {err:g} > {tol:g}"


@pytest.mark.parametrize("name", _nnb_models())
def test_zoo_model(build_dir, name, tmp_path):
    _run_model(build_dir, name, tmp_path)


@pytest.mark.parametrize("name", _nnb_models())
def test_zoo_model_sanitized(san_dir, name, tmp_path):
    _run_model(san_dir, name, tmp_path)


@pytest.mark.parametrize("name", _nnb_models())
def test_zoo_model_reference_kernels(ref_dir, name, tmp_path):
    _run_model(ref_dir, name, tmp_path)


def _corrupt_cases():
    seed = (ZOO / "lenet.nnb").read_bytes() if (ZOO / "lenet.nnb").exists() else b""
    cases = {}
    if not seed:
        return cases
    cases["truncated_header"] = seed[:30]
    cases["truncated_data"] = seed[: len(seed) // 2]
    b = bytearray(seed)
    b[0:4] = (7).to_bytes(4, "little")
    cases["bad_version"] = bytes(b)
    b = bytearray(seed)
    b[4:8] = (99).to_bytes(4, "little")
    cases["api_level"] = bytes(b)
    b = bytearray(seed)
    b[20:24] = (0x7FFFFFF0).to_bytes(4, "little")  # variables list chunk
    cases["chunk_index"] = bytes(b)
    b = bytearray(seed)
    b[56:60] = (0xFFFFFFF0).to_bytes(4, "little")  # first index entry
    cases["bad_offset"] = bytes(b)
    cases["not_nnb_text"] = b"this is not an nnb file at all\n" * 4
    cases["empty"] = b""
    cases["zeros"] = bytes(4096)
    return cases


@pytest.mark.parametrize("case", sorted(_corrupt_cases()))
@pytest.mark.parametrize("san", [False, True], ids=["normal", "san"])
def test_corrupt_file(case, san, tmp_path, request):
    bindir = request.getfixturevalue("san_dir" if san else "build_dir")
    p = tmp_path / "bad.nnb"
    p.write_bytes(_corrupt_cases()[case])
    for cmd in (["info", str(p)], ["run", str(p), str(tmp_path / "x.bin")]):
        r = subprocess.run([str(bindir / "nnbrt"), *cmd], capture_output=True, text=True)
        assert r.returncode not in (0,) and r.returncode > 0, (case, r.returncode, r.stderr)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("nnbrt:"), r.stderr


def test_api_and_unit(san_dir):
    r = subprocess.run([str(san_dir / "test_api"), str(ZOO)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def test_fuzz(san_dir):
    """Mutation fuzzing under ASan/UBSan, split over two processes (2 cores)."""
    iters = int(os.environ.get("NNB_FUZZ_ITERS", "5000"))
    seeds = [str(p) for p in sorted(ZOO.glob("*.nnb"))]
    procs = [subprocess.Popen([str(san_dir / "fuzz_nnb"), "-n", str((iters + k) // 2),
                               "-s", str(1000 + k), *seeds],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=3600)
        assert p.returncode == 0, out[-3000:] + err[-3000:]
        print(out.strip().splitlines()[-1])
