"""Field-aware fuzzing of the Python side: corrupted NNB files and NNP archives through the reader, the
reference executor, inspect's statistics, the memory plan and convert (both modes).  The only acceptable
outcomes are success or an NnbError (a one-line `nnb: error:`): any other exception is an internal error.

NNB mutants know the format (docs/nnb_format.md): a mutation picks a field kind — header, extended header,
index, a list (buffers/variables/functions/inputs/outputs/plan), a variable record, a shape, a function
record, its arguments, its input/output lists, the plan — and writes an interesting value into one word of
it, or changes a relation between records (function order swapped, an output aliased to an input, a record
duplicated).  NNP mutants edit the network text of a zoo model (numbers, names, lines).

`make test` runs a fixed, seeded sample (about 30 s); NNB_PYFUZZ_ITERS=N runs N mutants of each kind.
"""

from __future__ import annotations

import os
import random
import re
import struct
import traceback
import zipfile

import numpy as np
import pytest
from conftest import TRAINED, ZOO

from nnb.emit.convert import convert
from nnb.emit.nnb import read_nnb
from nnb.errors import NnbError
from nnb.executor import run
from nnb.inspect import memory_stats, model_stats
from nnb.model import load_model
from nnb.passes import optimize
from nnb.plan.arena import plan_arena

ITERS = int(os.environ.get("NNB_PYFUZZ_ITERS", "0"))
NNB_ITERS = ITERS or 500
NNP_ITERS = ITERS or 200
MAX_BYTES = 32 << 20  # run a mutant only when its tensors fit in this much memory ...
MAX_MACS = 20_000_000  # ... and it computes this little: the point is the checks, not the arithmetic

INTERESTING = [0, 1, 2, 3, 4, 7, 8, 16, 255, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
               0xFFFFFFFE, 0x40000000, 1000, 1001, 0x3F800000, 0x7FC00000]


# ---- the NNB layout, as fields ---------------------------------------------------------------

def nnb_fields(image: bytes) -> dict[str, list[tuple[int, int]]]:
    """Field kind -> byte ranges (start, end) of the 4-byte words of that kind in a well-formed image."""
    h = struct.unpack_from("<14I", image, 0)
    ext = h[0] == 1001
    hdr = 88 if ext else 56
    n = h[12]
    index = struct.unpack_from(f"<{n}i", image, hdr)
    base = hdr + 4 * n
    starts = sorted(set(index)) + [h[13]]

    def chunk(c: int) -> tuple[int, int]:
        off = index[c]
        end = next(s for s in starts if s > off) if off < starts[-1] else off
        return base + off, base + end

    def ints(c: int, count: int) -> list[int]:
        return list(struct.unpack_from(f"<{count}i", image, chunk(c)[0])) if count else []

    f: dict[str, list[tuple[int, int]]] = {"header": [(0, 56)], "index": [(hdr, base)]}
    if ext:
        f["ext_header"] = [(56, 88)]
    for kind, (size, c) in {"buffers": (h[2], h[3]), "variables": (h[4], h[5]), "functions": (h[6], h[7]),
                            "inputs": (h[8], h[9]), "outputs": (h[10], h[11])}.items():
        if size:
            f[f"list_{kind}"] = [chunk(c)]
    for rc in ints(h[5], h[4]):
        s, _ = chunk(rc)
        f.setdefault("variable_record", []).append((s, s + 20))
        _, ndim, schunk, _, _ = struct.unpack_from("<IIiBxxxi", image, s)
        if ndim:
            f.setdefault("shape", []).append(chunk(schunk))
    for rc in ints(h[7], h[6]):
        s, e = chunk(rc)
        f.setdefault("function_record", []).append((s, s + 20))
        if e > s + 20:
            f.setdefault("arguments", []).append((s + 20, e))
        _, _, isz, ich, osz, och = struct.unpack_from("<HHIiIi", image, s)
        for size, c in ((isz, ich), (osz, och)):
            if size:
                f.setdefault("function_io", []).append(chunk(c))
    if ext:
        e = struct.unpack_from("<8I", image, 56)
        if e[2]:
            f["plan"] = [chunk(e[3])]
        if len(image) > base + h[13]:
            f["names"] = [(base + h[13], len(image))]
    return f


def _word(image: bytearray, pos: int) -> int:
    return struct.unpack_from("<I", image, pos)[0]


def mutate_nnb(image: bytes, fields: dict[str, list[tuple[int, int]]], rng: random.Random) -> tuple[bytes, str]:
    m = bytearray(image)
    notes = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        kind = rng.choice(sorted(fields) + ["relation"])
        if kind == "relation":
            notes.append(_relation(m, fields, rng))
            continue
        s, e = rng.choice(fields[kind])
        if e - s < 4:
            continue
        pos = s + 4 * rng.randrange((e - s) // 4)
        old = _word(m, pos)
        how = rng.randrange(4)
        if how == 0:
            new = rng.choice(INTERESTING)
        elif how == 1:
            new = (old + rng.choice((-2, -1, 1, 2))) & 0xFFFFFFFF
        elif how == 2:
            new = old ^ (1 << rng.randrange(32))
        else:
            new = rng.randrange(64)
        struct.pack_into("<I", m, pos, new)
        notes.append(f"{kind}@{pos}: {old:#x}->{new:#x}")
    return bytes(m), "; ".join(notes)


def _relation(m: bytearray, fields: dict[str, list[tuple[int, int]]], rng: random.Random) -> str:
    """Change how records relate: function order, aliasing, duplicated records."""
    lst = fields.get("list_functions")
    io = fields.get("function_io")
    choice = rng.randrange(3)
    if choice == 0 and lst and lst[0][1] - lst[0][0] >= 8:  # two functions swap places
        s, e = lst[0]
        n = (e - s) // 4
        i, j = rng.sample(range(n), 2)
        a, b = _word(m, s + 4 * i), _word(m, s + 4 * j)
        struct.pack_into("<I", m, s + 4 * i, b)
        struct.pack_into("<I", m, s + 4 * j, a)
        return f"functions {i}<->{j}"
    if choice == 1 and io and len(io) >= 2:  # a function's list takes another list's entry (aliasing)
        (s1, e1), (s2, e2) = rng.sample(io, 2)
        if e1 > s1 and e2 > s2:
            struct.pack_into("<I", m, s1, _word(m, s2))
            return f"io@{s1} aliases io@{s2}"
    if lst and lst[0][1] - lst[0][0] >= 8:  # a function record listed twice
        s, e = lst[0]
        n = (e - s) // 4
        i, j = rng.sample(range(n), 2)
        struct.pack_into("<I", m, s + 4 * j, _word(m, s + 4 * i))
        return f"function {i} listed again at {j}"
    return "no relation"


# ---- what every mutant goes through -----------------------------------------------------------

def exercise(g) -> None:  # noqa: ANN001 - nnb.ir.Graph
    """What inspect, run, plan and convert do with a graph that was accepted."""
    stats = model_stats(g)
    memory_stats(g)
    plan_arena(optimize(g))
    for mode in ("extended", "compat"):
        try:
            c = convert(g, mode)
        except NnbError:
            continue
        read_nnb(c.image, "converted")
    if sum(t.nbytes for t in g.tensors.values()) > MAX_BYTES or stats.macs > MAX_MACS:
        return
    rng = np.random.default_rng(0)
    run(g, [rng.standard_normal(g.tensors[i].shape).astype(np.float32) for i in g.inputs])


def _outcome(fn, *args) -> str:  # noqa: ANN001
    try:
        fn(*args)
        return "ok"
    except NnbError:
        return "error"
    except Exception:  # an internal error: what this test exists to find
        return "INTERNAL " + traceback.format_exc(limit=-3).replace("\n", " | ")


def _seeds() -> dict[str, bytes]:
    seeds = {}
    for name in sorted(os.listdir(ZOO)):
        if name.endswith(".nnb"):
            with open(os.path.join(ZOO, name), "rb") as f:
                seeds[name] = f.read()
    for name in ("lenet", "resnet8", "dscnn", "conv_variants", "pooling"):  # extended and fused files
        seeds[f"{name}.ext"] = convert(load_model(os.path.join(ZOO, f"{name}.nnp")), "extended").image
    seeds["fmnist_lenet.packed"] = _packed_lenet()
    return seeds


def _packed_lenet() -> bytes:
    from nnb.quantize.qmodel import QLayer, QuantizedModel

    g = load_model(os.path.join(TRAINED, "fmnist_lenet.nnp"))
    layers = {}
    for k, t in enumerate(t for t in g.params() if t.name.endswith("/W")):
        if k % 2:
            step = np.float32(np.abs(t.data).max() / 7)
            codes = np.clip(np.round(t.data / step), -8, 7).astype(np.int64)
            layers[t.name] = QLayer("uniform", t.shape, 4, np.array([step], np.float32), codes)
        else:
            values = np.quantile(t.data, [0.05, 0.35, 0.65, 0.95]).astype(np.float32)
            layers[t.name] = QLayer("lut", t.shape, 2, values, np.abs(t.data[..., None] - values).argmin(-1))
        t.data = layers[t.name].dequantize()
    return convert(QuantizedModel(g, "test", layers)).image


def _cli_outcome(argv: list[str], capsys) -> str:  # noqa: ANN001
    """The program's answer: exit 0, or exit 2 with one `nnb: error:` line."""
    from nnb.cli import main

    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    if code == 0 or (code == 2 and len(err) == 1 and err[0].startswith("nnb: error: ")):
        return "ok" if code == 0 else "error"
    return f"INTERNAL exit {code}: {err[-3:]}"


class _Tally:
    """A fuzz run's outcomes: accepted / refused counts and the internal errors, named."""

    def __init__(self) -> None:
        self.counts = {"ok": 0, "error": 0}
        self.bad: list[str] = []

    def add(self, what: str, out: str) -> None:
        if out.startswith("INTERNAL"):
            self.bad.append(f"{what}: {out}")
        else:
            self.counts[out] += 1

    def check(self, label: str, n: int) -> None:
        """Print the figures; fail on any internal error."""
        c, bad = self.counts, self.bad
        print(f"{label}: {n}, accepted {c['ok']}, refused {c['error']}, internal {len(bad)}")
        assert not bad, f"{len(bad)} internal errors, first: {bad[:3]}"


def test_field_aware_nnb_mutants_never_cause_internal_errors(tmp_path, capsys) -> None:
    seeds = _seeds()
    fields = {k: nnb_fields(v) for k, v in seeds.items()}
    rng = random.Random(9)
    names = sorted(seeds)
    tally = _Tally()
    for k in range(NNB_ITERS):
        name = names[k % len(names)]
        mutant, note = mutate_nnb(seeds[name], fields[name], rng)

        def go(data: bytes = mutant) -> None:
            exercise(read_nnb(data, "mutant"))

        out = _outcome(go)
        if k % 25 == 0 and not out.startswith("INTERNAL"):  # a sample through the program itself
            path = tmp_path / "m.nnb"
            path.write_bytes(mutant)
            g = read_nnb(seeds[name], name)
            x = tmp_path / "x.npy"
            np.save(x, np.zeros(g.tensors[g.inputs[0]].shape, np.float32))
            for argv in (["inspect", str(path)], ["run", str(path), "-i", str(x)],
                         ["convert", str(path), "--mode", "compat", "-o", str(tmp_path / "c.nnb")]):
                if len(g.inputs) > 1 and argv[0] == "run":
                    continue
                cli = _cli_outcome(argv, capsys)
                if cli.startswith("INTERNAL"):
                    out = f"{argv[0]}: {cli}"
        tally.add(f"{name} [{note}]", out)
    tally.check("NNB mutants", NNB_ITERS)
    assert tally.counts["error"] > NNB_ITERS // 3  # the mutator does corrupt files


# ---- NNP archives ---------------------------------------------------------------------------------

NNP_SEEDS = ("lenet", "resnet8", "array", "pooling", "conv_variants", "reduce", "unet_tiny", "broadcast")
_NUM = re.compile(r"(?<=: )-?\d+(\.\d+)?(e-?\d+)?\b")
_NAME = re.compile(r'"[^"\n]*"')
NUMBERS = ["0", "-1", "-2", "1", "2", "3", "9", "65536", "2147483647", "2147483648", "-2147483648",
           "9223372036854775807", "100000", "0.5", "nan"]


def mutate_nntxt(text: str, rng: random.Random) -> tuple[str, str]:
    lines = text.split("\n")
    notes = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        how = rng.randrange(5)
        k = rng.randrange(len(lines))
        if how <= 1:  # a number
            cands = [i for i, ln in enumerate(lines) if _NUM.search(ln)]
            k = rng.choice(cands)
            lines[k] = _NUM.sub(rng.choice(NUMBERS), lines[k], count=1)
        elif how == 2:  # a name becomes another name of the file
            cands = [i for i, ln in enumerate(lines) if _NAME.search(ln)]
            k = rng.choice(cands)
            other = rng.choice(_NAME.findall(text))
            lines[k] = _NAME.sub(lambda _, o=other: o, lines[k], count=1)
        elif how == 3 and "{" not in lines[k] and "}" not in lines[k]:  # a field goes
            del lines[k]
        else:  # a field is repeated
            if "{" not in lines[k] and "}" not in lines[k]:
                lines.insert(k, lines[k])
        notes.append(f"{how}@{k}")
    return "\n".join(lines), ",".join(notes)


def test_nnp_mutants_never_cause_internal_errors(tmp_path) -> None:
    texts = {}
    for name in NNP_SEEDS:
        with zipfile.ZipFile(os.path.join(ZOO, f"{name}.nnp")) as z:
            texts[name] = {n: z.read(n) for n in z.namelist()}
    rng = random.Random(11)
    tally = _Tally()
    path = str(tmp_path / "m.nnp")
    for k in range(NNP_ITERS):
        name = NNP_SEEDS[k % len(NNP_SEEDS)]
        members = texts[name]
        note = ""
        with zipfile.ZipFile(path, "w") as z:
            for n, data in members.items():
                if n.endswith(".nntxt"):
                    text, note = mutate_nntxt(data.decode(), rng)
                    data = text.encode()
                z.writestr(n, data)
        out = _outcome(lambda: exercise(load_model(path)))
        tally.add(f"{name} [{note}]", out)
    tally.check("NNP mutants", NNP_ITERS)
    assert tally.counts["error"] > NNP_ITERS // 4


@pytest.mark.parametrize("name", ["lenet.nnb", "lenet.ext", "fmnist_lenet.packed"])
def test_the_field_map_covers_the_file(name: str) -> None:
    """The mutator's field map is right: every word it names lies inside the file and the kinds exist."""
    seeds = {"lenet.nnb": lambda: open(os.path.join(ZOO, "lenet.nnb"), "rb").read(),
             "lenet.ext": lambda: convert(load_model(os.path.join(ZOO, "lenet.nnp")), "extended").image,
             "fmnist_lenet.packed": _packed_lenet}
    image = seeds[name]()
    f = nnb_fields(image)
    for kind in ("header", "index", "list_variables", "list_functions", "variable_record", "shape",
                 "function_record", "arguments", "function_io"):
        assert kind in f, kind
    assert ("plan" in f) == (not name.endswith(".nnb"))
    assert all(0 <= s <= e <= len(image) for spans in f.values() for s, e in spans)


# ---- the C side's field-aware mutator, through the Python side ------------------------------------

C_RUNTIME = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "c_runtime")


def test_c_field_mutants_never_cause_internal_errors(tmp_path) -> None:
    """The C fuzzer's own mutants (c_runtime/tests/fuzz_fields.c --dump: it also knows data-flow relations)
    through the same Python path."""
    import shutil
    import subprocess

    if shutil.which("make") is None or shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("no C compiler or make: the C mutator cannot be built (the Python mutants above still ran)")
    tool = os.path.join(C_RUNTIME, "build", "fuzz_fields")
    r = subprocess.run(["make", "-C", C_RUNTIME, "-s", "build/fuzz_fields"], capture_output=True, text=True)
    assert r.returncode == 0 and os.path.exists(tool), (r.stdout + r.stderr)[-2000:]
    seed_paths = []
    for name, image in _seeds().items():
        p = tmp_path / f"{name}.nnb"
        p.write_bytes(image)
        seed_paths.append(str(p))
    n = max(ITERS // 2, 240)
    out = tmp_path / "mutants"
    r = subprocess.run([tool, "--dump", str(out), "-n", str(n), "-s", "9", *seed_paths], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    files = sorted(out.iterdir())
    assert len(files) >= n // 2, f"the C mutator wrote {len(files)} of {n} files"  # it skips no-op mutations
    tally = _Tally()
    for f in files:
        data = f.read_bytes()
        res = _outcome(lambda d=data, label=f.name: exercise(read_nnb(d, label)))
        tally.add(f.name, res)
    tally.check("C field mutants", len(files))


# ---- every registered op with random arguments and input shapes -----------------------------------

OP_ITERS = ITERS or 1500


def test_random_arguments_of_every_op_never_cause_internal_errors() -> None:
    """One-function graphs: each op with random argument values (of the schema's kinds) and input shapes,
    validated and run; the validator must catch whatever the op's forward cannot take."""
    from nnb.ir import Graph, Node, Tensor
    from nnb.ops import all_ops
    from nnb.validate import validate_graph

    rng = random.Random(3)
    strs = ["", "max", "average", "relu", "relu6", "lut", "uniform", "constant", "reflect", "repeat", "x"]

    def value(kind: str):  # noqa: ANN202
        if rng.random() < 0.15:
            return None
        return {"int": lambda: rng.randint(-3, 5), "float": lambda: rng.choice([0.0, 1.0, -1.0, 0.5, 1e-5]),
                "bool": lambda: rng.random() < 0.5, "str": lambda: rng.choice(strs),
                "ints": lambda: tuple(rng.randint(-2, 4) for _ in range(rng.randint(0, 4))),
                "floats": lambda: tuple(rng.choice([0.5, 1.0]) for _ in range(rng.randint(0, 3)))}[kind]()

    ops = {k: v for k, v in all_ops().items() if not k.endswith("Packed")}  # packed: covered by the files above
    bad, ran = [], 0
    for _ in range(OP_ITERS):
        name = rng.choice(sorted(ops))
        op = ops[name]
        lo, hi = op.num_inputs
        base = tuple(rng.randint(1, 5) for _ in range(rng.randint(1, 4)))
        shapes = [base if rng.random() < 0.5 else tuple(rng.randint(1, 5) for _ in range(rng.randint(1, 4)))
                  for _ in range(rng.randint(lo, min(hi, lo + 2)))]
        try:
            attrs = op.normalize({a.name: value(a.kind) for a in op.attrs if rng.random() < 0.7})
        except NnbError:
            continue
        n_out = 1
        try:
            n_out = len(op.infer(shapes, attrs))
        except Exception:  # noqa: BLE001 - the validator below must turn this into an NnbError
            pass
        tensors = {f"i{k}": Tensor(f"i{k}", s, kind="input") for k, s in enumerate(shapes)}
        outs = [f"o{k}" for k in range(max(n_out, 1))]
        tensors.update({o: Tensor(o, ()) for o in outs})
        g = Graph("t", tensors, [Node("n", name, [f"i{k}" for k in range(len(shapes))], outs, attrs)],
                  [f"i{k}" for k in range(len(shapes))], outs)

        def go(g: Graph = g, shapes: list = shapes) -> None:
            validate_graph(g)
            run(g, [np.random.default_rng(0).standard_normal(s).astype(np.float32) for s in shapes])

        res = _outcome(go)
        ran += res == "ok"
        if res.startswith("INTERNAL"):
            bad.append(f"{name} {shapes} {attrs}: {res}")
    print(f"random op graphs: {OP_ITERS}, ran {ran}, internal {len(bad)}")
    assert not bad, f"{len(bad)} internal errors, first: {bad[:3]}"
    assert ran > OP_ITERS // 4
