"""NNB writer/reader: compatible files describe the same graph as nnabla's converter's;
extended files round-trip; corrupt files give clean errors."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from conftest import ZOO, assert_close_to_nnabla, manifest, zoo_inputs, zoo_names, zoo_outputs

from nnb.emit.convert import convert
from nnb.emit.nnb import EXT_VERSION, read_nnb, write_nnb
from nnb.errors import NnbError
from nnb.executor import run
from nnb.ir import Graph
from nnb.nnp.reader import load

WITH_UPSTREAM = [n for n in zoo_names() if manifest()[n]["nnb"]]


def functions_by_output(g: Graph) -> dict:
    """Functions keyed by their first output's variable id; the converter may order them differently."""
    return {n.outputs[0]: n for n in g.nodes}


@pytest.mark.parametrize("name", WITH_UPSTREAM)
def test_compatible_file_describes_the_upstream_graph(name: str) -> None:
    ours = read_nnb(write_nnb(load(os.path.join(ZOO, name + ".nnp"))), "ours")
    with open(os.path.join(ZOO, name + ".nnb"), "rb") as f:
        up = read_nnb(f.read(), "upstream")
    assert ours.inputs == up.inputs and ours.outputs == up.outputs
    assert [t.shape for t in ours.tensors.values()] == [t.shape for t in up.tensors.values()]
    fo, fu = functions_by_output(ours), functions_by_output(up)
    assert fo.keys() == fu.keys()
    for k, n in fo.items():
        u = fu[k]
        assert (n.op, n.inputs, n.outputs, n.attrs) == (u.op, u.inputs, u.outputs, u.attrs), k
    for k, t in ours.tensors.items():
        if t.kind == "param":
            assert np.array_equal(t.data, up.tensors[k].data), k


@pytest.mark.parametrize("name", WITH_UPSTREAM)
def test_upstream_file_runs_in_the_reference(name: str) -> None:
    with open(os.path.join(ZOO, name + ".nnb"), "rb") as f:
        g = read_nnb(f.read(), name)
    outs = run(g, zoo_inputs(name))
    for k, ref in zip(g.outputs, zoo_outputs(name)):
        assert_close_to_nnabla(outs[k], ref, f"{name}.nnb {k}")


@pytest.mark.parametrize("mode", ["compat", "extended"])
@pytest.mark.parametrize("name", zoo_names())
def test_written_file_runs_in_the_reference(name: str, mode: str) -> None:
    g = load(os.path.join(ZOO, name + ".nnp"))
    try:
        c = convert(g, mode)
    except NnbError as e:
        assert mode == "compat", e
        pytest.skip(f"{name} cannot be written in compatible mode: {e}")
    g2 = read_nnb(c.image, name)
    outs = run(g2, zoo_inputs(name))
    for k, ref in zip(g2.outputs, zoo_outputs(name)):
        assert_close_to_nnabla(outs[k], ref, f"{name} {mode} {k}")


def test_extended_header_and_version_3() -> None:
    g = load(os.path.join(ZOO, "lenet.nnp"))
    ext = convert(g, "extended").image
    assert struct.unpack_from("<I", ext, 0)[0] == EXT_VERSION
    assert struct.unpack_from("<I", ext, 56)[0] == 0x58424E4E
    v2, v3 = write_nnb(g, version=2), write_nnb(g, version=3)
    h2, h3 = struct.unpack_from("<14I", v2), struct.unpack_from("<14I", v3)
    sizes2 = struct.unpack_from(f"<{h2[2]}i", v2, 56 + 4 * h2[12] + struct.unpack_from("<i", v2, 56 + 4 * h2[3])[0])
    sizes3 = struct.unpack_from(f"<{h3[2]}i", v3, 56 + 4 * h3[12] + struct.unpack_from("<i", v3, 56 + 4 * h3[3])[0])
    assert [4 * s for s in sizes2] == list(sizes3)


def test_auto_mode_writes_the_extended_file_our_runtime_runs_best() -> None:
    g = load(os.path.join(ZOO, "lenet.nnp"))
    auto, compat = convert(g), convert(g, "compat")
    assert auto.mode == "extended" and auto.image == convert(g, "extended").image
    assert auto.buffer_bytes < compat.buffer_bytes  # the one arena needs less RAM than upstream's buffers
    assert convert(load(os.path.join(ZOO, "activations.nnp"))).mode == "extended"  # ReLU6, HardSigmoid, ...


def _corruptions(data: bytes) -> list[tuple[str, bytes]]:
    h = list(struct.unpack_from("<14I", data))
    bad_version = struct.pack("<I", 7) + data[4:]
    bad_api = data[:4] + struct.pack("<I", 99) + data[8:]
    huge_chunks = data[:48] + struct.pack("<I", 0x7FFFFFFF) + data[52:]
    h2 = list(h)
    h2[5] = 10_000  # variable list chunk out of range
    bad_chunk = struct.pack("<14I", *h2) + data[56:]
    first = 56 + 4 * h[12]
    bad_offset = data[:56] + struct.pack("<i", -8) + data[60:]
    return [("truncated", data[: len(data) // 2]), ("tiny", data[:10]), ("bad version", bad_version),
            ("bad api", bad_api), ("chunk count", huge_chunks), ("chunk index", bad_chunk),
            ("chunk offset", bad_offset), ("garbage", b"\x02" + os.urandom(200)), ("empty data", data[:first])]


@pytest.mark.parametrize("label,blob", _corruptions(open(os.path.join(ZOO, "lenet.nnb"), "rb").read()))
def test_corrupt_nnb_is_a_clean_error(label: str, blob: bytes, tmp_path) -> None:
    with pytest.raises(NnbError):
        read_nnb(blob, label)
    p = tmp_path / "bad.nnb"
    p.write_bytes(blob)
    r = subprocess.run([sys.executable, "-m", "nnb.cli", "inspect", str(p)], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_random_mutations_never_crash_the_reader() -> None:
    data = bytearray(open(os.path.join(ZOO, "conv_variants.nnb"), "rb").read())
    rng = np.random.default_rng(1)
    for _ in range(300):
        m = bytearray(data)
        for _ in range(int(rng.integers(1, 8))):
            m[int(rng.integers(0, len(m)))] = int(rng.integers(0, 256))
        try:
            read_nnb(bytes(m), "mutant")
        except NnbError:
            pass


def test_cli_convert_and_run(tmp_path) -> None:
    out = tmp_path / "m.nnb"
    r = subprocess.run([sys.executable, "-m", "nnb.cli", "convert", os.path.join(ZOO, "resnet8.nnp"), "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "extended NNB" in r.stdout and "arena 131,072 bytes" in r.stdout
    npz = tmp_path / "o.npz"
    r = subprocess.run([sys.executable, "-m", "nnb.cli", "run", str(out), "-i", os.path.join(ZOO, "resnet8.in0.npy"),
                        "-o", str(npz)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    z = np.load(npz)
    assert_close_to_nnabla(z[z.files[0]], zoo_outputs("resnet8")[0], "resnet8 via extended NNB")
