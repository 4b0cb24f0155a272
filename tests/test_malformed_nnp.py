"""Malformed NNP archives: every one is refused by inspect, run, plan and convert with one line and exit 2,
and convert writes nothing.

Each archive is the zoo LeNet (saved by nnabla 1.39) with one edit of its network text or parameter file.
The commands run in-process through ``nnb.cli.main`` (the same code path as the ``nnb`` program); one case is
also run as a real subprocess.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import ZOO

from nnb.cli import main

LENET = os.path.join(ZOO, "lenet.nnp")
X = os.path.join(ZOO, "lenet.in0.npy")

CONV1 = '''    convolution_param {
      base_axis: 1
      pad {
        dim: 0
        dim: 0
      }
      stride {
        dim: 1
        dim: 1
      }
      dilation {
        dim: 1
        dim: 1
      }
      group: 1
    }'''
POOL1 = '''      kernel {
        dim: 2
        dim: 2
      }'''
RELU2 = '''  function {
    name: "@net/ReLU_2"
    type: "ReLU"
    input: "@net/Affine_out"
    output: "@net/ReLU_out_2"
    relu_param {
    }
  }'''
X_SHAPE = '''    name: "x"
    type: "Buffer"
    shape {
      dim: -1
      dim: 1
      dim: 28
      dim: 28
    }'''
Y_VAR = '''  variable {
    name: "y"
    type: "Buffer"
    shape {
      dim: -1
      dim: 10
    }
  }'''


def _fn(op: str, param: str) -> str:
    return (f'  function {{\n    name: "@net/ReLU_2"\n    type: "{op}"\n    input: "@net/Affine_out"\n'
            f'    output: "@net/ReLU_out_2"\n    {param}\n  }}')


# (case, old text, new text, words the error must contain)
TEXT_CASES = [
    ("negative dimension", X_SHAPE, X_SHAPE.replace("dim: 1\n", "dim: -3\n"), ["-3"]),
    ("enormous shape", X_SHAPE, X_SHAPE.replace("dim: 28\n      dim: 28", "dim: 100000\n      dim: 100000"),
     ["32-bit"]),
    ("zero-size dimension", X_SHAPE, X_SHAPE.replace("dim: 1\n", "dim: 0\n"), ["dimension 0"]),
    ("reshape size mismatch", RELU2, _fn("Reshape", "reshape_param {\n      shape {\n        dim: 1\n        dim: 49\n"
                                               "      }\n    }"), ["Reshape", "49"]),
    ("undefined variable", 'input: "@net/ReLU_out_2"', 'input: "nowhere"', ["nowhere"]),
    ("cycle", 'input: "x"\n', 'input: "@net/ReLU_out"\n', ["@net/ReLU_out", "before"]),
    ("duplicate declaration", Y_VAR, Y_VAR + "\n" + Y_VAR, ["'y'", "twice"]),
    ("duplicate function", RELU2, RELU2 + "\n" + RELU2.replace('output: "@net/ReLU_out_2"', 'output: "y"'),
     ["ReLU_2", "twice"]),
    ("conv group 0", CONV1, CONV1.replace("group: 1", "group: 0"), ["group=0"]),
    ("conv wrong group", CONV1, CONV1.replace("group: 1", "group: 3"), ["Convolution", "3 groups"]),
    ("negative pad", CONV1, CONV1.replace("dim: 0\n        dim: 0", "dim: -1\n        dim: 0"), ["pad=(-1, 0)"]),
    ("stride 0", CONV1, CONV1.replace("stride {\n        dim: 1", "stride {\n        dim: 0"), ["stride=(0, 1)"]),
    ("pool kernel 0", POOL1, POOL1.replace("dim: 2\n        dim: 2", "dim: 0\n        dim: 2"), ["kernel=(0, 2)"]),
    ("softmax axis 9", "softmax_param {\n      axis: 1", "softmax_param {\n      axis: 9", ["Softmax", "axis 9"]),
    ("bad transpose axes", RELU2, _fn("Transpose", "transpose_param {\n      axes: 0\n      axes: 0\n    }"),
     ["Transpose", "(0, 0)"]),
    ("type-confused argument", CONV1, CONV1.replace("group: 1", 'group: "one"'), ["network description"]),
    ("shape given as a number", POOL1, "      kernel: 2", ["network description"]),
    ("declared but unused variable", Y_VAR, Y_VAR + '\n  variable {\n    name: "orphan"\n    type: "Buffer"\n'
                                                  "    shape {\n      dim: 3\n    }\n  }", ["orphan", "declared"]),
    ("declared shape differs", 'dim: -1\n      dim: 16\n      dim: 24\n',
     'dim: -1\n      dim: 16\n      dim: 23\n', ["Convolution_out", "(-1, 16, 23, 24)"]),
    ("function writes a parameter", 'output: "@net/ReLU_out_2"', 'output: "affine4/affine/b"',
     ["writes parameter", "affine4/affine/b"]),
    ("function writes the input", 'output: "@net/ReLU_out_2"', 'output: "x"', ["network input 'x'"]),
    ("variable written twice", 'output: "@net/ReLU_out_2"', 'output: "@net/Affine_out"', ["@net/Affine_out"]),
    ("parameter with a negative dimension", 'dim: 256\n      dim: 50', 'dim: -256\n      dim: 50', ["-256"]),
    ("argument over 32 bits", "axis: 1\n", "axis: 4294967297\n", ["axis"]),
    ("wrong input count", 'input: "conv1/conv/b"\n', 'input: "conv1/conv/b"\n    input: "conv1/conv/b"\n',
     ["4 inputs"]),
]


def _h5_as_int(data: bytes) -> bytes:
    """The parameter file with conv1/conv/b stored as int32."""
    import h5py

    buf = io.BytesIO(data)
    with h5py.File(buf, "r+") as f:
        ds = f["conv1/conv/b"]
        attrs, values = dict(ds.attrs), ds[()]
        del f["conv1/conv/b"]
        new = f.create_dataset("conv1/conv/b", data=values.astype(np.int32))
        for k, v in attrs.items():
            new.attrs[k] = v
    return buf.getvalue()


def _build(tmp_path, case: str) -> tuple[str, list[str]]:
    dst = str(tmp_path / "bad.nnp")
    with zipfile.ZipFile(LENET) as zin, zipfile.ZipFile(dst, "w") as zout:
        for n in zin.namelist():
            data = zin.read(n)
            if case == "parameter of dtype int32" and n.endswith(".h5"):
                data = _h5_as_int(data)
            for name, old, new, _ in TEXT_CASES:
                if name == case and n.endswith(".nntxt"):
                    text = data.decode()
                    assert old in text, f"{case}: the edit does not apply to the zoo LeNet any more"
                    data = text.replace(old, new, 1).encode()
            zout.writestr(n, data)
    words = {c[0]: c[3] for c in TEXT_CASES}.get(case, ["int32", "conv1/conv/b"])
    return dst, words


CASES = [c[0] for c in TEXT_CASES] + ["parameter of dtype int32"]


def _one_line_error(capsys, argv: list[str], words: list[str]) -> None:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, (argv[0], code, err)
    assert len(err) == 1 and err[0].startswith("nnb: error: "), (argv[0], err)
    for w in words:
        assert w in err[0], (argv[0], w, err[0])


def test_the_unedited_lenet_passes(tmp_path, capsys) -> None:
    """The baseline: every command accepts the zoo LeNet (so each refusal below is the edit's doing)."""
    assert main(["inspect", LENET]) == 0
    assert main(["run", LENET, "-i", X]) == 0
    assert main(["plan", LENET]) == 0
    assert main(["convert", LENET, "-o", str(tmp_path / "ok.nnb")]) == 0
    assert os.path.getsize(tmp_path / "ok.nnb") > 0


@pytest.mark.parametrize("case", CASES)
def test_malformed_nnp_is_one_line_exit_2_everywhere(tmp_path, capsys, case: str) -> None:
    path, words = _build(tmp_path, case)
    out = tmp_path / "out.nnb"
    for argv in (["inspect", path], ["run", path, "-i", X], ["plan", path], ["convert", path, "-o", str(out)],
                 ["convert", path, "--mode", "compat", "-o", str(out)]):
        _one_line_error(capsys, argv, words)
        assert not out.exists(), f"{case}: convert wrote {out}"
    assert [p.name for p in tmp_path.iterdir()] == ["bad.nnp"], "a file was left behind"


def test_malformed_nnp_as_a_program(tmp_path) -> None:
    path, words = _build(tmp_path, "conv wrong group")
    r = subprocess.run([sys.executable, "-m", "nnb.cli", "convert", path, "-o", str(tmp_path / "o.nnb")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "o.nnb").exists()
