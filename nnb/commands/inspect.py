"""``nnb inspect``: the per-layer table."""

from __future__ import annotations

import argparse
import json

from nnb.commands.common import add_model_verb, fixed_model, int8_model, load


def cmd_inspect(args: argparse.Namespace) -> int:
    from nnb.inspect import format_table, memory_stats, model_stats
    from nnb.passes import fired_rewrites

    g = load(args)
    stats = model_stats(g)
    mem = memory_stats(g)
    m = int8_model(args.model, g)
    if m is not None:  # the file's own plan: int8 tensors at one byte per value
        from nnb.emit import nnb_int8

        mem["int8_arena_bytes"] = nnb_int8.plan(nnb_int8.deploy(m)).arena_bytes
    fx = fixed_model(args.model, g) if m is None else None
    if fx is not None:  # FIXED8/FIXED16: every value stored as a bits-wide integer / 2^fp_pos
        pfp = [fx.fp_pos[t.name] for t in fx.graph.params() if t.name in fx.fp_pos]
        afp = [v for k, v in fx.fp_pos.items() if k not in {t.name for t in fx.graph.params()}]
        mem["fixed"] = {"bits": fx.bits, "param_bytes": sum(t.size for t in fx.graph.params()) * fx.bits // 8,
                        "param_fp_pos": [min(pfp, default=0), max(pfp, default=0)],
                        "tensor_fp_pos": [min(afp, default=0), max(afp, default=0)]}
    if args.json:
        print(json.dumps({**stats.to_dict(), "memory": mem}, indent=1))
    else:
        print(format_table(stats))
        print(f"memory: arena {mem['arena_bytes']:,} bytes after BN folding and fusion "
              f"({mem['arena_bytes_unfused']:,} unfused; no reuse {mem['no_reuse_bytes']:,}; "
              f"upstream-style buffers {mem['upstream_buffer_bytes']:,}); inputs {mem['input_bytes']:,} bytes")
        if "int8_arena_bytes" in mem:
            print(f"int8 model: its int8 records plan an arena of {mem['int8_arena_bytes']:,} bytes of tensors "
                  "(kernel scratch and runtime tables not included; int8 tensors at one byte per value; the "
                  "figures above count float32; nnb plan shows it)")
        if "fixed" in mem:
            fxm = mem["fixed"]
            where = ("--backend c computes it in integers" if args.model.lower().endswith(".nnb") else
                     "--backend intsim computes it in integers; nnb convert writes its FIXED NNB for --backend c")
            print(f"fixed{fxm['bits']} model (value = integer / 2^fp_pos): parameters {fxm['param_bytes']:,} bytes "
                  f"at {fxm['bits'] // 8} byte(s) per value, fp_pos {fxm['param_fp_pos'][0]}.."
                  f"{fxm['param_fp_pos'][1]}; "
                  f"tensors fp_pos {fxm['tensor_fp_pos'][0]}..{fxm['tensor_fp_pos'][1]} (the figures above count "
                  f"float32); {where}")
        fired = "; ".join(fired_rewrites(g))
        if args.model.lower().endswith(".onnx"):  # the reader canonicalises as it reads: its own counts
            from nnb.onnx import load_onnx_report

            done = "; ".join(f"{k}: {n}" for k, n in load_onnx_report(args.model)[1].items())
            fired = ("while reading the ONNX graph: " + (done or "nothing to rewrite")
                     + (f"; then {fired}" if fired else ""))
        print("canonicalisation: " + (fired or "nothing to rewrite"))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    help_ = "print a per-layer table: op, output shape, parameters, MACs, activation bytes"
    sp = add_model_verb(sub, "inspect", help_, cmd_inspect)
    sp.add_argument("--json", action="store_true", help="print the same information as JSON")
