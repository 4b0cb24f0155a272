"""The ``nnb`` command line: the parser (verbs in nnb/commands/) and the error policy of ``main``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

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
  nnb inspect model.nnp --json          the same as JSON
  nnb run model.nnp --input x.npy       run the numpy reference and print the outputs
  nnb run model.nnp --input a=a.npy --input b=b.npy --output out.npz
  nnb convert model.nnp -o model.nnb    NNB for nnabla's C runtime (compatible) or nnb's (extended)
  nnb plan model.nnp                    the one-arena memory plan as a table and a picture
  nnb train model.nnp --data fashion-mnist --epochs 2 -o tuned.nnp
  nnb quantize model.nnp --method lutq --k 4 --data fashion-mnist --epochs 1 -o model.nnq
  nnb quantize model.nnp --method dq --weight-budget 12kB --data fashion-mnist --epochs 1 -o model.nnq
  nnb eval model.nnq --data fashion-mnist [--confusion] [--backend reference|c]
  nnb convert model.nnq -o model.nnb    packed sub-byte weights in an extended NNB
  nnb demo [--quick]                    train, quantize, pack and run a Fashion-MNIST LeNet

exit status: 0 on success, 2 on bad input (the message names the problem).
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnb", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"nnb {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    from nnb.commands import register_all

    register_all(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
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
