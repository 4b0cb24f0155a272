"""``nnb quantize``: build the quantizer, fine-tune through it, write the .nnq (and a float NNP)."""

from __future__ import annotations

import argparse
import os
import sys
import zipfile

from nnb.commands.common import check_model_file, check_output_file, refuse_data_folders
from nnb.commands.train import common_training
from nnb.errors import NnbError
from nnb.quantize.hooks import build_hook
from nnb.quantize.layers import weight_params
from nnb.quantize.qmodel import QuantizedModel, save_quantized


def cmd_quantize(args: argparse.Namespace) -> int:
    from nnb.commands.train import load_model, run_training, train_config
    from nnb.nnp.writer import save
    from nnb.train.trainer import Trainer

    refuse_data_folders(args)
    check_model_file(args.model)
    _check_outputs(args)
    if args.method in CALIBRATED:  # post-training: calibration instead of fine-tuning (nnb/quantize/int8_run.py)
        return _calibrated(args)
    if args.keep_lutq:
        raise NnbError("--keep-lutq goes with --method int8 (on a LUT-Q .nnq)")
    if not args.data:
        raise NnbError(f"--method {args.method} fine-tunes: it needs --data")
    if not args.output.endswith(".nnq"):
        raise NnbError(f"-o {args.output}: the quantized model file must end in .nnq (use --export-nnp for a "
                       "float NNP)")
    g = load_model(args.model)
    trainer = Trainer(g, train_config(args))
    names = weight_params(g)
    if getattr(args, "act_budget", None) and args.method != "dq":
        raise NnbError("--act-budget needs --method dq")
    trainer.hook = build_hook(args, trainer.params, names, g)
    deploy_int8 = bool(getattr(trainer.hook, "acts", None)) and not args.float_acts
    if deploy_int8:  # the samples fixing the int8 input grid, checked before training
        from nnb.quantize.int8_run import calibration_inputs

        x_calib = calibration_inputs(g, args.calib or args.data, args.calib_samples)
    if not run_training(trainer, args, g):
        return 130
    hook = trainer.hook
    q = hook.qlayers() if args.method == "lutq" else hook.qlayers(trainer.params)
    out_graph = trainer.trained_graph()
    info = {"method": args.method, "epochs": args.epochs, "history": trainer.history}
    if getattr(hook, "acts", None):
        info["activations"] = hook.activations_info()
        info["act_budget"] = {"kb": hook.cfg.act_budget_kb, "kind": hook.cfg.act_budget_kind}
    model = QuantizedModel(out_graph, args.method, q, info)
    save_quantized(args.output, model)
    total = sum(t.size for t in g.params() if t.name in q)
    kb = sum(x.size_bits for x in q.values()) / 8192
    for name, layer in q.items():
        print(f"  {name}: {layer.kind} {layer.bits} bit x {layer.codes.size}", file=sys.stderr)
    print(f"quantized {len(q)} weight tensors ({total} weights): {kb:.2f} kB with dictionaries/steps "
          f"(float32: {total * 4 / 1024:.2f} kB)")
    if getattr(hook, "acts", None):
        acts = ", ".join(f"{n} {a.bits} bit" for n, a in hook.acts.items())
        print(f"activations ({hook.cfg.act_budget_kind} {hook.act_kb():.3f} kB, budget {hook.cfg.act_budget_kb:.3f} "
              f"kB): {acts}")
    if deploy_int8:
        from nnb.quantize.dq_int8_run import deploy

        try:
            lines = deploy(args.output, x_calib, info["act_budget"])
        except NnbError:
            os.remove(args.output)
            raise
        for line in lines:
            print(line)
    if args.method == "dq" and not hook.within_budget():
        print(f"nnb: warning: weight memory {hook.weight_kb():.2f} kB (budget {hook.cfg.budget_kb or 0:.2f} kB) or "
              f"activation memory {hook.act_kb():.3f} kB is above its budget; train longer", file=sys.stderr)
    if getattr(args, "report", None):
        from nnb.quantize.report import options_text, render_report, write_report

        last = trainer.history[-1] if trainer.history else {}
        final = f"Final validation accuracy {last['val_acc']:.2%}." if "val_acc" in last else ""
        write_report(args.report, render_report(g, model, trainer.steps, trainer.history,
                                                title=os.path.basename(args.output), options=options_text(args),
                                                final=final))
        print(f"wrote {args.report}")
    if args.export_nnp:
        save(out_graph, args.export_nnp)
        print(f"wrote {args.export_nnp}")
    print(f"wrote {args.output}")
    return 0


CALIBRATED = ("int8", "fixed8", "fixed16")


def _check_outputs(args: argparse.Namespace) -> None:
    """Every file the command will write, checked before the calibration or the training: a folder that does
    not exist, or the model itself, used to end the command with the error after the work was done."""
    for flag, path in (("-o", args.output), ("--report", args.report), ("--export-nnp", args.export_nnp),
                       ("--nnb", args.nnb)):
        if path:
            check_output_file(path, args.model, flag)


def _calibrated(args: argparse.Namespace) -> int:
    from nnb.quantize.int8_run import CalibOptions, quantize_calibrated

    if not args.calib:
        raise NnbError(f"--method {args.method} needs --calib DATA (calibration samples)")
    _refuse_calibrated_source(args.model, args.method, args.keep_lutq)
    if args.data:
        _check_accuracy_data(args.data)
    opts = CalibOptions(args.method, args.calib, args.calib_samples, args.calib_method, args.strict_int,
                        args.data, args.val_limit, args.quiet, args.nnb)
    if args.keep_lutq:  # LUT-Q codes kept, integer activations (nnb/quantize/lutq_int8_run.py)
        from nnb.quantize.lutq_int8_run import quantize_lutq_int8

        rc = quantize_lutq_int8(args.model, args.output, opts, getattr(args, "report", None))
    else:
        rc = quantize_calibrated(args.model, args.output, opts, getattr(args, "report", None))
    if rc == 0 and args.method == "int8":
        print(_tensor_plans_line(args.output))
    return rc


def _check_accuracy_data(spec: str) -> None:
    """--data of a calibrated quantization (the labelled set its accuracy line is measured on), checked before the
    calibration: a missing file, another format or an .npz without labels ended the command after it."""
    from nnb.train.data import load_data

    if spec.partition(":")[0] in ("fashion-mnist", "fashion_mnist", "fmnist"):
        return
    if not os.path.exists(spec) or not spec.endswith((".npz", ".csv")):
        load_data(spec)  # its one-line error: no such file, or which formats it reads
    if spec.endswith(".npz"):
        import numpy as np

        try:
            with np.load(spec, allow_pickle=False) as z:
                keys = sorted(z.files)
        except (OSError, ValueError, zipfile.BadZipFile):
            return  # the reader names what is wrong with the file when it reads it
        if "y" not in keys:
            raise NnbError(f"--data {spec}: no labels (array 'y'; found {', '.join(keys) or 'nothing'}): the accuracy "
                           "line needs them (--calib alone takes an x-only file)")


def _refuse_calibrated_source(path: str, method: str, keep_lutq: bool = False) -> None:
    """A calibrated .nnq (int8, fixed8, fixed16) given as the model to calibrate: its graph holds weights already
    rounded to another grid, so the result would be quantized twice and say nothing of it. LUT-Q and DQ .nnq
    files stay accepted (--keep-lutq, or int8 activations on fine-tuned weights)."""
    if not (path.lower().endswith(".nnq") and os.path.isfile(path)):
        return
    from nnb.quantize.qmodel import CALIBRATED_METHODS, load_quantized

    done = load_quantized(path).method
    if done in CALIBRATED_METHODS and keep_lutq:
        raise NnbError(f"{path}: is a calibrated {done} model, not a LUT-Q model: --keep-lutq takes a .nnq "
                       "written by nnb quantize --method lutq")
    if done in CALIBRATED_METHODS:
        raise NnbError(f"{path}: is already a calibrated {done} model; calibrate the float model (.nnp, .nntxt or "
                       f".onnx) for --method {method}")


def _tensor_plans_line(path: str) -> str:
    """The int8 records' tensor plan beside the float model's (both tensors only, batch 1): the same footing,
    and a pointer to the whole RAM figure, so neither is read as the RAM the runtime asks for."""
    from nnb.commands.common import int8_model
    from nnb.emit import nnb_int8
    from nnb.passes import optimize
    from nnb.plan.arena import plan_arena
    from nnb.quantize.qmodel import load_quantized

    g = load_quantized(path).graph
    m = int8_model(path, g)
    if m is None:
        return "int8 tensor plan: not available for this model (nnb plan shows its plan)"
    q8 = nnb_int8.plan(nnb_int8.deploy(m)).arena_bytes
    f32 = plan_arena(optimize(g)).arena_bytes
    return (f"tensor plan (batch 1): int8 {q8:,} bytes, float {f32:,} bytes ({q8 / max(f32, 1):.1%}); tensors only: "
            f"the C runtime adds tables, input staging and kernel scratch (nnb convert {path} prints the whole "
            "request)")


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("quantize", help="quantize a model: LUT-Q or DQ (fine-tuning), int8, fixed8 or fixed16 "
                                         "(calibrated on --calib)",
                               description="Quantize the weights of Convolution/DepthwiseConvolution/Affine "
                                           "layers while fine-tuning (lutq, dq), or calibrate int8 / fixed-point "
                                           "weights and activations without training (int8, fixed8, fixed16; "
                                           "docs/int8.md); writes a quantized model (.nnq) and "
                                           "optionally a float NNP with the quantized values.")
    sp.add_argument("model", help="the float model (.nnp, .nntxt or .onnx; a LUT-Q .nnq with --method int8 "
                    "--keep-lutq)")
    sp.add_argument("--method", choices=("lutq", "dq") + CALIBRATED, required=True,
                    help="lutq/dq: quantization-aware fine-tuning; int8/fixed8/fixed16: post-training, calibrated "
                         "on --calib (docs/int8.md)")
    sp.add_argument("--calib", metavar="DATA", help="int8/fixed: calibration data (anything --data takes); dq "
                    "--act-budget: the samples that fix the network input's int8 grid (default: --data)")
    sp.add_argument("--calib-samples", type=int, default=500, help="int8/fixed: calibration samples (default 500)")
    sp.add_argument("--calib-method", choices=("minmax", "percentile", "mse", "top", "adaround"), default="minmax",
                    help="int8/fixed: range choice (default minmax; top: percentile, with a classifier's scores "
                         "on a grid fine at the top; adaround: int8 layer by layer on the quantized upstream "
                         "outputs, weight rounding and output ranges fitted to float; docs/int8.md)")
    sp.add_argument("--strict-int", action="store_true",
                    help="int8: refuse functions without an integer kernel instead of running them as float islands")
    sp.add_argument("--keep-lutq", action="store_true",
                    help="int8 on a LUT-Q .nnq: keep its weights as LUT-Q codes with integer dictionaries "
                         "(per-entry accumulation; docs/int8.md)")
    sp.add_argument("--nnb", metavar="OUT.nnb", help="fixed8/fixed16: also write a compatible NNB (FIXED variables)")
    sp.add_argument("--k", type=int, default=4, help="LUT-Q: dictionary size K (default 4)")
    sp.add_argument("--pow2", action="store_true", help="LUT-Q: power-of-two dictionary")
    sp.add_argument("--prune", type=float, default=0.0, help="LUT-Q: pruning rate p (one entry fixed at 0)")
    sp.add_argument("--symmetric", action="store_true", help="LUT-Q: symmetric dictionary")
    sp.add_argument("--bits", type=int, help="DQ: fixed bitwidth baseline (LSQ-style, step learned)")
    sp.add_argument("--weight-budget", help="DQ: total weight memory, e.g. 11.4kB, 93216bit (1 kB = 1024 bytes)")
    sp.add_argument("--pow2-step", action="store_true", help="DQ: round the step to a power of two")
    sp.add_argument("--act-budget", metavar="SIZE",
                    help="DQ: also quantize the ReLU outputs (unsigned, learned step/range) within this activation "
                         "memory, e.g. 2kB (per sample)")
    sp.add_argument("--no-int8", dest="float_acts", action="store_true",
                    help="DQ --act-budget: do not add the int8 model (by default the .nnq also carries it, for "
                         "--backend intsim and the C runtime; docs/int8.md)")
    sp.add_argument("--act-budget-kind", choices=("max", "sum"), default="max",
                    help="DQ: the activation budget bounds the largest activation (max, default) or their sum")
    sp.add_argument("--export-nnp", metavar="OUT.nnp", help="also write a float NNP with the quantized weights")
    sp.add_argument("--report", metavar="REPORT.html",
                    help="write an HTML report: per-layer bits/K, weight and activation kB, training curves")
    common_training(sp, 1.0, 1e-4)
    sp._option_string_actions["--data"].required = False  # int8/fixed: --data is the optional accuracy data
    sp.set_defaults(func=cmd_quantize)
