"""NNP writer: read -> write -> read keeps the graph, the parameters and the outputs."""

from __future__ import annotations

import os
import shutil
import zipfile

import numpy as np
import pytest
from conftest import ZOO, assert_close_to_nnabla, zoo_inputs, zoo_names, zoo_outputs

from nnb.executor import run
from nnb.ir import Graph
from nnb.nnp.reader import load
from nnb.nnp.writer import save


def assert_same_graph(a: Graph, b: Graph) -> None:
    assert a.inputs == b.inputs and a.outputs == b.outputs
    assert [(n.name, n.op, n.inputs, n.outputs, n.attrs) for n in a.nodes] == \
        [(n.name, n.op, n.inputs, n.outputs, n.attrs) for n in b.nodes]
    assert a.input_specs == b.input_specs
    assert set(a.tensors) == set(b.tensors)
    for name, t in a.tensors.items():
        u = b.tensors[name]
        assert (t.kind, t.shape) == (u.kind, u.shape), name
        if t.kind == "param":
            assert u.data is not None and t.data is not None
            assert np.array_equal(t.data, u.data), name
            assert t.need_grad == u.need_grad


@pytest.mark.parametrize("name", zoo_names())
def test_round_trip(name: str, tmp_path) -> None:
    g = load(os.path.join(ZOO, name + ".nnp"))
    out = str(tmp_path / "rt.nnp")
    save(g, out)
    g2 = load(out)
    assert_same_graph(g, g2)
    ins = zoo_inputs(name)
    y1, y2 = run(g, ins), run(g2, ins)
    for k, ref in zip(g.outputs, zoo_outputs(name)):
        assert np.array_equal(y1[k], y2[k])
        assert_close_to_nnabla(y2[k], ref, f"{name} {k}")


def test_written_file_layout(tmp_path) -> None:
    g = load(os.path.join(ZOO, "lenet.nnp"))
    out = str(tmp_path / "m.nnp")
    save(g, out)
    with zipfile.ZipFile(out) as z:
        assert z.namelist() == ["nnp_version.txt", "network.nntxt", "parameter.h5"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
        text = z.read("network.nntxt").decode()
    assert 'type: "Convolution"' in text and "dim: -1" in text


def test_bare_nntxt_with_parameters_beside_it(tmp_path) -> None:
    for suffix, param in ((".nnp", "parameter.h5"), (".pb.nnp", "parameter.protobuf")):
        d = tmp_path / suffix.strip(".")
        d.mkdir()
        with zipfile.ZipFile(os.path.join(ZOO, "conv_variants" + suffix)) as z:
            z.extractall(d)
        shutil.move(str(d / "network.nntxt"), str(d / "model.nntxt"))
        g = load(str(d / "model.nntxt"))
        outs = run(g, zoo_inputs("conv_variants"))
        for k, ref in zip(g.outputs, zoo_outputs("conv_variants")):
            assert_close_to_nnabla(outs[k], ref, k)
        assert os.path.exists(d / param)


def nnabla_python() -> str | None:
    """A Python with nnabla 1.39: $NNB_NNABLA_PYTHON, else the repo's .venv-nnabla (made by `make nnabla`)."""
    from conftest import ROOT

    cand = os.environ.get("NNB_NNABLA_PYTHON") or os.path.join(ROOT, ".venv-nnabla", "bin", "python")
    return cand if os.path.exists(cand) else None


def test_nnabla_itself_loads_what_we_write(tmp_path) -> None:
    """The real nnabla reads every zoo model as written by nnb and computes nnabla's outputs."""
    import json
    import subprocess

    py = nnabla_python()
    if py is None:
        pytest.skip("no Python with nnabla 1.39 (run `make nnabla` or set NNB_NNABLA_PYTHON) — "
                    "round trip through nnb alone is still tested above")
    jobs = []
    for name in zoo_names():
        out = str(tmp_path / f"{name}.nnp")
        save(load(os.path.join(ZOO, name + ".nnp")), out)
        n_in = len(zoo_inputs(name))
        jobs.append({"nnp": out, "inputs": [os.path.join(ZOO, f"{name}.in{k}.npy") for k in range(n_in)],
                     "out": str(tmp_path / f"{name}.npz"), "name": name})
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    from conftest import ROOT

    r = subprocess.run([py, os.path.join(ROOT, "tools", "nnabla_oracle.py"), str(tmp_path / "jobs.json")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    for job in jobs:
        got = np.load(job["out"])
        g = load(job["nnp"])
        for k, ref in zip(g.outputs, zoo_outputs(job["name"])):
            assert_close_to_nnabla(got[k], ref, f"nnabla on nnb's {job['name']} {k}")
