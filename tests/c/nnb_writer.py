"""Minimal NNB writer for C-runtime tests (float32 only).

variables: list of (shape, data or None[, type, fp_pos]); None makes a working
buffer; type 1 FIXED16 / 2 FIXED8 stores data as int16/int8 (already integers).
functions: list of (function_id, argcode, args, input_ids, output_ids);
argcode letters: i int32, f float32, B bool byte, "iI" int list (Python list).
"""
import struct

import numpy as np


def write_nnb(variables, functions, inputs, outputs, version=2, api_level=44, plan=None,
              arena_bytes=None, ext_words=None):
    """plan (dict variable id -> arena byte offset) writes nnb's extended
    format (version 1001): no buffer list, data_index -1 for buffers, a plan
    chunk (-1 parameters, -2 network inputs) and the 88-byte header.
    arena_bytes defaults to the end of the furthest planned variable."""
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
    ext = plan is not None
    if ext:
        version = 1001
    variables = [tuple(v) + (0, 0) if len(v) == 2 else tuple(v) for v in variables]
    esz = {0: 4, 1: 2, 2: 1}
    sizes = [] if ext else [int(np.prod(v[0])) * (esz[v[2]] if version == 3 else 1)
                            for v in variables if v[1] is None]
    buf_c = add(ints(sizes))
    var_recs, nbuf = [], 0
    for vid, (shape, data, vtype, fp) in enumerate(variables):
        sc = add(ints(shape)) if len(shape) else 0
        if data is None and ext:
            di = -1
        elif data is None:
            di, nbuf = -(nbuf + 1), nbuf + 1
        else:
            if vtype == 3:  # SIGN: bit k of little-endian word k // 32, 1 is +1
                bits = (np.asarray(data).reshape(-1) > 0).astype(np.uint8)
                packed = np.packbits(bits, bitorder="little").tobytes()
                di = add(packed + b"\0" * ((-len(packed)) % 4))
            else:
                dt = {0: "<f4", 1: "<i2", 2: "i1"}[vtype]
                di = add(np.asarray(data).astype(dt).tobytes())
        var_recs.append(add(struct.pack("<IIiBxxxi", vid, len(shape), sc, (fp << 4) | vtype, di)))
    var_list = add(ints(var_recs))
    fn_recs = []
    for fid, code, args, ins, outs in functions:
        ic, oc = add(ints(ins)), add(ints(outs))
        head = struct.pack("<HHIiIi", fid, 0, len(ins), ic, len(outs), oc)
        fn_recs.append(add(head + pack_args(code, args)))
    fn_list = add(ints(fn_recs))
    if ext:
        pl = []
        for vid, v in enumerate(variables):
            pl.append(-1 if v[1] is not None else -2 if vid in inputs else plan[vid])
        plan_c = add(ints(pl))
        if arena_bytes is None:
            arena_bytes = max([plan[v] + 4 * int(np.prod(variables[v][0])) for v in plan] + [0])
    offs, data = [], b""
    for c in chunks:
        offs.append(len(data))
        data += c
    hdr = struct.pack("<14I", version, api_level, len(sizes), buf_c, len(variables), var_list,
                      len(functions), fn_list, len(inputs), in_c, len(outputs), out_c,
                      len(chunks), len(data))
    if ext:
        words = ext_words or [0x58424E4E, arena_bytes, len(variables), plan_c, 1, 0, 0, 0]
        hdr += struct.pack("<8I", *words)
    return hdr + ints(offs) + data
