"""Field-aware fuzzing of the C loader (c_runtime/tests/fuzz_fields.c) under ASan/UBSan.

Seeds: every zoo .nnb (nnabla's converter), the zoo models in nnb's extended
format, FusedConv (residual, pooled) files and bit-packed LUT/uniform weights.
NNB_FUZZ_ITERS mutants (CI: 100,000) go through sizing, init and run; the
run fails on any sanitizer report and on any accepted mutant that the
fuzzer's independent data-flow oracle finds wrong (read before write,
non-in-place aliasing, live tensors sharing storage, writes to parameters or
network inputs). The oracle itself is checked on files known to be wrong.
"""
import os
import subprocess

import pytest
from nnb_writer import write_nnb
from test_c_runtime import ZOO, _build
from test_extended import ENV, FUSED_PARAMS, _extended_image, _fused_model, _manifest


@pytest.fixture(scope="module")
def san():
    return _build(True)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    d = tmp_path_factory.mktemp("field_seeds")
    out = [str(p) for p in sorted(ZOO.glob("*.nnb"))]
    for name in sorted(_manifest()):
        p = d / f"{name}.ext.nnb"
        p.write_bytes(_extended_image(name))
        out.append(str(p))
    for case, alias in FUSED_PARAMS[:4]:
        p = d / f"fused_{case}_{int(alias)}.nnb"
        p.write_bytes(_fused_model(case, alias)[0])
        out.append(str(p))
    from test_packed_c import _layer_model
    for case, kind, bits in (("depthwise", "uniform", 3), ("affine_base2", "lut", 3), ("fused_pool_res", "lut", 2)):
        p = d / f"packed_{case}_{kind}{bits}.nnb"
        p.write_bytes(_layer_model(case, kind, bits)[0])
        out.append(str(p))
    return out


def test_fuzz_fields(san, seeds):
    iters = int(os.environ.get("NNB_FUZZ_ITERS", "5000"))
    procs = [subprocess.Popen([str(san / "fuzz_fields"), "-n", str((iters + k) // 2), "-s", str(7000 + k), *seeds],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
             for k in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=3600)
        assert p.returncode == 0, out[-3000:] + err[-3000:]
        assert "Sanitizer" not in err and "runtime error" not in err, err[-3000:]
        print(out.strip().splitlines()[-1])


def test_oracle_catches_wrong_files(san, tmp_path):
    """The oracle is not vacuous: files breaking each rule are reported (exit 1)."""
    x = [1, 2, 4, 4]
    relu, add1 = (14, "B", [False]), (37, "f", [1.0])
    vs = [(x, None)] * 3
    cases = {
        "a tensor is read before any function writes it":
            write_nnb(vs, [(*add1, [1], [2]), (*relu, [0], [1])], [0], [2]),
        "a function writes a parameter or a network input":
            write_nnb(vs, [(*relu, [0], [1]), (*add1, [1], [0])], [0], [1]),
        "a function writes over a tensor still to be read":
            write_nnb(vs + [(x, None), (x, None)], [(*add1, [0], [1]), (*add1, [1], [2]), (*relu, [0], [3]),
                                                     (31, "B", [False], [1, 3], [4])], [0], [2, 4],
                      plan={1: 0, 2: 128, 3: 0, 4: 256}),
    }
    for why, image in cases.items():
        p = tmp_path / "bad.nnb"
        p.write_bytes(image)
        r = subprocess.run([str(san / "fuzz_fields"), "--oracle", str(p)], capture_output=True, text=True, env=ENV)
        assert r.returncode == 1 and r.stdout.strip() == why, (why, r.stdout, r.stderr)
    good = tmp_path / "good.nnb"
    good.write_bytes(write_nnb(vs, [(*relu, [0], [1]), (*add1, [1], [2])], [0], [2]))
    r = subprocess.run([str(san / "fuzz_fields"), "--oracle", str(good)], capture_output=True, text=True, env=ENV)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout


def test_dump(san, seeds, tmp_path):
    """--dump DIR -n N writes N mutants (for the Python-side fuzz test) and runs nothing."""
    d = tmp_path / "mutants"
    r = subprocess.run([str(san / "fuzz_fields"), "--dump", str(d), "-n", "50", "-s", "3", *seeds],
                       capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr
    files = sorted(d.glob("mutant_*.nnb"))
    assert 0 < len(files) <= 50
    assert any(f.read_bytes() != open(s, "rb").read() for f in files[:5] for s in seeds)
