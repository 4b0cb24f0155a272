"""Kernels of the `activations` zoo model, which upstream nnabla cannot
convert to NNB: build an NNB (version 2) from the model's network.nntxt and
parameter.h5 with a minimal writer, run it with `nnbrt run` and compare with
nnabla's outputs. Function ids and argument codes come from
shared/reference/nnabla_function_ids.tsv; arguments from the nntxt.
"""
import io
import json
import re
import subprocess
import zipfile

import numpy as np
import pytest
from nnb_writer import write_nnb
from test_c_runtime import ZOO, _build

REF = ZOO.parent.parent / "reference" / "nnabla_function_ids.tsv"


def _function_table():
    table = {}
    for line in REF.read_text().splitlines():
        if line.startswith("#") or line.startswith("id\t"):
            continue
        cols = line.split("\t")
        table[cols[1]] = (int(cols[0]), "" if cols[2] == "Empty" else cols[2])
    return table


def _parse_nntxt(text):
    funcs = []
    for m in re.finditer(r"\n  function \{\n(.*?)\n  \}", text, re.S):
        body = m.group(1)
        f = {"type": re.search(r'type: "(\w+)"', body).group(1),
             "inputs": re.findall(r'input: "([^"]+)"', body),
             "outputs": re.findall(r'output: "([^"]+)"', body),
             "args": [float(v) if "." in v or "e" in v else int(v)
                      for v in re.findall(r"\w+: (-?[0-9.eE+-]+)\n", body)]}
        funcs.append(f)
    return funcs


def test_activations(tmp_path):
    bindir = _build(False)
    h5py = pytest.importorskip("h5py")
    spec = json.loads((ZOO / "manifest.json").read_text())["models"]["activations"]
    with zipfile.ZipFile(ZOO / "activations.nnp") as z:
        text = z.read("network.nntxt").decode()
        params = {}
        with h5py.File(io.BytesIO(z.read("parameter.h5")), "r") as h:
            h.visititems(lambda n, o: params.__setitem__(n, np.array(o)) if hasattr(o, "shape") else None)
    table = _function_table()
    funcs = _parse_nntxt(text)
    x = np.load(ZOO / "activations.in0.npy").astype("<f4")
    names = {spec["inputs"][0][0]: 0}
    variables = [(list(x.shape), None)]
    fn_records = []
    for f in funcs:
        ins = []
        for n in f["inputs"]:
            if n not in names:
                p = params[n]
                names[n] = len(variables)
                variables.append((list(p.shape), p.reshape(-1)))
            ins.append(names[n])
        outs = []
        for n in f["outputs"]:
            names[n] = len(variables)
            variables.append((list(x.shape), None))
            outs.append(names[n])
        fid, code = table[f["type"]]
        fn_records.append((fid, code, f["args"], ins, outs))
    out_ids = [names[n] for n, _ in spec["outputs"]]
    model = tmp_path / "activations.nnb"
    model.write_bytes(write_nnb(variables, fn_records, [0], out_ids))
    x.tofile(tmp_path / "in0.bin")
    r = subprocess.run([str(bindir / "nnbrt"), "run", str(model), str(tmp_path / "in0.bin"),
                        "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    bad = []
    for k, (oname, _) in enumerate(spec["outputs"]):
        ref = np.load(ZOO / f"activations.out{k}.npy").reshape(-1)
        got = np.fromfile(tmp_path / f"out{k}.bin", "<f4")
        err = float(np.max(np.abs(got - ref)))
        if err > 1e-5 * max(1.0, float(np.max(np.abs(ref)))):
            bad.append(f"{oname}: {err:g}")
    assert not bad, bad
