"""Minimal NNB writer for C-runtime tests (float32 only).

variables: list of (shape, data or None); None makes a working buffer.
functions: list of (function_id, argcode, args, input_ids, output_ids);
argcode letters: i int32, f float32, B bool byte, "iI" int list (Python list).
"""
import struct

import numpy as np


def write_nnb(variables, functions, inputs, outputs, version=2, api_level=44):
    chunks = []

    def add(b):
        b += b"\0" * ((-len(b)) % 4)
        chunks.append(b)
        return len(chunks) - 1

    def ints(v):
        return struct.pack(f"<{len(v)}i", *[int(x) for x in v])

    def pack_args(code, values):
        out, vals, k, i = b"", list(values) + [0] * 16, 0, 0
        while i < len(code):
            c = code[i]
            if c == "i" and i + 1 < len(code) and code[i + 1] == "I":
                out += b"\0" * ((-len(out)) % 4)
                lst = list(vals[k])
                out += struct.pack("<ii", len(lst), add(ints(lst)) if lst else 0)
                i += 2
            else:
                if c in "if":
                    out += b"\0" * ((-len(out)) % 4)
                    out += struct.pack("<f", float(vals[k])) if c == "f" else struct.pack("<i", int(vals[k]))
                elif c == "B":
                    out += struct.pack("<B", int(bool(vals[k])))
                i += 1
            k += 1
        return out

    in_c, out_c = add(ints(inputs)), add(ints(outputs))
    sizes = [int(np.prod(s)) for s, d in variables if d is None]
    buf_c = add(ints([n * (4 if version == 3 else 1) for n in sizes]))
    var_recs, nbuf = [], 0
    for vid, (shape, data) in enumerate(variables):
        sc = add(ints(shape)) if len(shape) else 0
        if data is None:
            di, nbuf = -(nbuf + 1), nbuf + 1
        else:
            di = add(np.asarray(data, "<f4").tobytes())
        var_recs.append(add(struct.pack("<IIiBxxxi", vid, len(shape), sc, 0, di)))
    var_list = add(ints(var_recs))
    fn_recs = []
    for fid, code, args, ins, outs in functions:
        ic, oc = add(ints(ins)), add(ints(outs))
        head = struct.pack("<HHIiIi", fid, 0, len(ins), ic, len(outs), oc)
        fn_recs.append(add(head + pack_args(code, args)))
    fn_list = add(ints(fn_recs))
    offs, data = [], b""
    for c in chunks:
        offs.append(len(data))
        data += c
    hdr = struct.pack("<14I", version, api_level, len(sizes), buf_c, len(variables), var_list,
                      len(functions), fn_list, len(inputs), in_c, len(outputs), out_c,
                      len(chunks), len(data))
    return hdr + ints(offs) + data
