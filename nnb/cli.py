"""The ``nnb`` command line: the parser (verbs in nnb/commands/) and the error policy of ``main``."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from nnb import __version__
from nnb.errors import NnbError

DESCRIPTION = """\
nnb: ahead-of-time embedded inference for nnabla / Neural Network Console models.

Reads a trained .nnp (or .nntxt with its parameters), checks it against the
numpy reference executor, and reports what running it on a device costs.
"""

EPILOG = """\
examples:
  nnb inspect model.nnp                 per-layer table: shapes, parameters, MACs, activation bytes
  nnb run model.nnp --input x.npy       run the numpy reference and print the outputs
  nnb run model.onnx -i x.npy --backend c -o out.npz    any backend: reference, c, emit-c, opencl, board, intsim
  nnb convert model.nnp -o model.nnb    NNB for nnb's C runtime (default) or nnabla's (--mode compat)
  nnb plan model.nnp                    the one-arena memory plan as a table and a picture
  nnb emit-c model.nnp -o model_c/      firmware-ready C source with its footprint report
  nnb boards                            the boards nnb builds firmware for
  nnb build model.nnp --board qemu-mps2-an386 -o fw/    a fit-checked firmware project, compiled
  nnb run model.nnp --board qemu-mps2-an386 -i x.npy    the firmware under QEMU: outputs + instructions
  nnb devices                           OpenCL platforms and devices (for --backend opencl)
  nnb train model.nnp --data fashion-mnist --epochs 2 -o tuned.nnp
  nnb quantize model.nnp --method lutq --k 4 --data fashion-mnist --epochs 1 -o model.nnq
  nnb quantize model.nnp --method dq --weight-budget 12kB --data fashion-mnist --epochs 1 -o model.nnq
  nnb quantize model.nnp --method int8 --calib fashion-mnist --calib-samples 500 -o model.nnq
  nnb eval model.nnq --data fashion-mnist [--confusion] [--backend reference|c|emit-c|opencl|intsim]
  nnb demo [--quick]                    train, quantize, pack and run a Fashion-MNIST LeNet everywhere

exit status: 0 on success, 2 on bad input (the message names the problem).
"""


class _Parser(argparse.ArgumentParser):
    """argparse with the project's error policy: one line ``nnb: error: VERB: message (see nnb VERB --help)``
    and exit status 2 instead of the usage block; --help unchanged. Subparsers are made of the same class."""

    def error(self, message: str) -> NoReturn:
        verb = self.prog.split(" ", 1)[1] if " " in self.prog else ""
        text = " ".join(message.split())
        self.exit(2, f"nnb: error: {verb + ': ' if verb else ''}{text} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nnb", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"nnb {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    from nnb.commands import register_all

    register_all(sub)
    p.verbs = sub.choices  # type: ignore[attr-defined] - for naming the verb of an unrecognized argument
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # what parse_args does, but refused by the verb's parser so the message names the verb
        getattr(parser, "verbs", {}).get(getattr(args, "command", None), parser).error(
            f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if not os.environ.get("NNB_DEBUG"):  # numpy's overflow/invalid-value notes are not errors: no stderr noise
        warnings.filterwarnings("ignore", category=RuntimeWarning)
    try:
        return int(args.func(args))
    except NnbError as e:
        print(f"nnb: error: {e}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:  # output piped into head & co.
        return 0
    except KeyboardInterrupt:
        print("nnb: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("nnb: error: out of memory", file=sys.stderr)
        return 2
    except OSError as e:  # a file or folder nnb was asked to read or write
        if os.environ.get("NNB_DEBUG"):
            raise
        where = f": {e.filename}" if e.filename else ""
        print(f"nnb: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug in nnb: still one line unless asked for the traceback
        if os.environ.get("NNB_DEBUG"):
            raise
        print(f"nnb: internal error: {type(e).__name__}: {' '.join(str(e).split())} "
              "(set NNB_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
