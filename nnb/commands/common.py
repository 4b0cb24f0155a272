"""Helpers shared by the CLI verbs: the model argument, reading .npy inputs, backend options."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph

if TYPE_CHECKING:
    from nnb.boards import Board

MODEL_HELP = "the model: .nnp, .nntxt with parameter.h5/.protobuf beside it, .onnx, .nnq or .nnb"


def add_model_arg(sp: argparse.ArgumentParser, help_: str = MODEL_HELP) -> None:
    sp.add_argument("model", help=help_)
    sp.add_argument("--executor", help="executor to use (default: the first in the file)")


def add_model_verb(sub: argparse._SubParsersAction, name: str, help_: str, func: Callable[[argparse.Namespace], int],
                   description: str | None = None) -> argparse.ArgumentParser:
    """A verb that reads one model: its parser with the model argument and --executor, bound to ``func``."""
    sp = sub.add_parser(name, help=help_, description=description or help_)
    add_model_arg(sp)
    sp.set_defaults(func=func)
    return sp


MODEL_KINDS = ".nnp, .nntxt with its parameters beside it, .onnx, .nnq or .nnb"
# other frameworks' files a user may hand over first (and arrays given where a model goes)
_OTHER_FORMATS = {".tflite": "a TensorFlow Lite file", ".pb": "a TensorFlow graph", ".h5": "an HDF5 (Keras) file",
                  ".keras": "a Keras model", ".pt": "a PyTorch file", ".pth": "a PyTorch file",
                  ".caffemodel": "a Caffe model", ".mlmodel": "a Core ML model", ".npy": "a numpy array",
                  ".npz": "a numpy archive"}
_ZIP_MAGIC = b"PK\x03\x04"
_NNB_VERSIONS = (2, 3, 1001)  # the first int32 of an NNB file (nnb/emit/nnb_layout.py)


def _model_kind(path: str) -> str | None:
    """What the file holds, from its bytes: 'nnq' (a quantized model: a zip with model.nnp and quant.json),
    'nnp' (a zip with a network description), 'nnb', or None when it cannot tell (ONNX, nntxt, junk)."""
    import zipfile

    try:
        with open(path, "rb") as f:
            head = f.read(4)
        if head == _ZIP_MAGIC:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
            if "quant.json" in names and "model.nnp" in names:
                return "nnq"
            if any(n.endswith((".nntxt", ".prototxt")) for n in names):
                return "nnp"
            return None
        if len(head) == 4 and int.from_bytes(head, "little") in _NNB_VERSIONS:
            return "nnb"
    except (OSError, zipfile.BadZipFile):
        return None
    return None


def check_model_file(path: str) -> None:
    """A model argument that is a folder, or a model saved under another model kind's extension (an .nnq
    renamed .nnp, an NNP named .nnb), gets one line saying what it is, instead of a reader's complaint about
    the wrong format (a missing file is left to the readers, which name it)."""
    if os.path.isdir(path):
        raise NnbError(f"{path}: is a folder, not a model file")
    if not os.path.exists(path):
        return
    ext = os.path.splitext(path)[1].lower()
    if ext in _OTHER_FORMATS:  # else: 'not an NNP file (not a zip archive)', which says nothing of what to do
        raise NnbError(f"{path}: {_OTHER_FORMATS[ext]} is not a model format nnb reads ({MODEL_KINDS}); "
                       "export the network to ONNX first")
    kind = _model_kind(path)
    what = {"nnq": "a quantized model (what nnb quantize writes)", "nnp": "an NNP model (a zip with its network)",
            "nnb": "an NNB file (what nnb convert writes)"}
    if kind is not None and ext in (".nnp", ".nnq", ".nnb", ".onnx") and ext != "." + kind:
        raise NnbError(f"{path}: is {what[kind]}, not {ext}: name it .{kind}")


def load(args: argparse.Namespace, allow_deferred: bool = False) -> Graph:
    """The validated graph of ``args.model`` (``args.executor`` picks the NNP executor).

    ``allow_deferred``: a variable-batch model whose shapes resolve only with
    the real input is checked per run instead (``nnb run``).
    """
    from nnb.model import load_model

    check_model_file(args.model)
    return load_model(args.model, executor=getattr(args, "executor", None), allow_deferred=allow_deferred)


def same_file(a: str, b: str) -> bool:
    """Do two paths name the same file (existing or not)?"""
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def check_output_file(path: str, model: str | None = None, flag: str = "-o") -> None:
    """Refuse an output file path before any work is done: the input model itself, a folder, or a folder that
    does not exist (a conversion or a firmware run would otherwise end with the error after minutes).
    ``flag`` is the option that named it (-o, --report, ...)."""
    if model is not None and same_file(path, model):
        raise NnbError(f"{flag} {path} is the input model: choose another output file")
    if os.path.isdir(path):
        raise NnbError(f"{flag} {path}: is a folder; give a file name")
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        raise NnbError(f"{flag} {path}: the folder '{folder}' does not exist (create it first)")


def refuse_data_folders(args: argparse.Namespace) -> None:
    """--data / --calib name a dataset or one file; a folder (a natural guess for a set of images) gets a line
    saying what to give instead of 'unknown data format'."""
    for flag in ("data", "calib"):
        value = getattr(args, flag, None)
        if value and os.path.isdir(value):
            raise NnbError(f"--{flag} {value}: is a folder; give fashion-mnist, one FILE.npz (arrays x, and y for "
                           "labels) or one nnabla FILE.csv")


def board_or_hint(name: str) -> Board:
    """The board named on the command line; an unknown name also says which known name is closest."""
    from nnb.boards import load_board
    from nnb.boards.load import board_names

    try:
        return load_board(name)
    except NnbError as e:
        close = difflib.get_close_matches(name, board_names(), n=1)
        if close and str(e).startswith("unknown board"):
            raise NnbError(f"unknown board '{name}': did you mean '{close[0]}'? (nnb boards lists them all)") from None
        raise


def prepare_c_runtime(backend: str) -> None:
    """The C backend compiles c_runtime/ on its first use (a minute or more on a busy machine). Build it here,
    before any progress line, saying so when there is no library yet: a silent wait looked like a hang, and
    the build time was counted in the progress line's rate."""
    if backend != "c":
        return
    from nnb.backends import c as cbackend

    if not os.path.exists(os.path.join(cbackend.C_RUNTIME, "build", "libnnbrt.so")):
        print(f"nnb: building the C runtime in {cbackend.C_RUNTIME}/build (first use only; one to three minutes "
              "on a small machine) ...",
              file=sys.stderr, flush=True)
    cbackend.build_library()


def write_file(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file beside it, then renamed)."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise NnbError(f"{path}: cannot write ({e.strerror})") from None


def check_output_dir(path: str) -> None:
    """Refuse a project folder that is an existing file before any work (the build would stop at its end)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise NnbError(f"-o {path}: is a file; give a folder for the project (new or empty)")


def add_backend_arg(sp: argparse.ArgumentParser, evaluating: bool = False) -> None:
    """--backend; ``evaluating``: only the backends that score a data set (nnb eval)."""
    from nnb.backends import backend_help, backend_names

    names = backend_names(evaluating=evaluating)
    sp.add_argument("--backend", choices=names, default="reference",
                    help=backend_help(names) + " (default: reference)")


def backend_options(args: argparse.Namespace) -> dict:
    """The backend options present on the command line (device, board, batch, ...)."""
    return {k: getattr(args, k) for k in ("device", "board", "batch") if getattr(args, k, None) is not None}


def read_npy(path: str) -> np.ndarray:
    """One array from a .npy file; a folder or a zip (an .npz, a model given as --input) is named as such."""
    if os.path.isdir(path):
        raise NnbError(f"{path}: is a folder; give one .npy file (np.save)")
    if not os.path.exists(path):
        raise NnbError(f"{path}: no such input file")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise NnbError(f"{path}: not a readable .npy array ({' '.join(str(e).split())})") from None
    if not isinstance(arr, np.ndarray):  # np.load opens any zip as an NpzFile
        arr.close()
        raise NnbError(f"{path}: a zip archive (an .npz or a model file), not one .npy array: give a file "
                       "written by np.save")
    return arr


def parse_inputs(specs: Sequence[str], input_names: Sequence[str]) -> dict[str, np.ndarray]:
    """``--input`` values: ``file.npy`` in the network's input order, or ``name=file.npy``."""
    out: dict[str, np.ndarray] = {}
    positional = iter(input_names)
    for spec in specs:
        name, sep, path = spec.partition("=")
        if sep and name in input_names:
            out[name] = read_npy(path)
            continue
        if sep and not os.path.exists(spec):
            raise NnbError(f"--input {spec}: the network has no input '{name}' (inputs: {', '.join(input_names)})")
        try:
            name = next(n for n in positional if n not in out)
        except StopIteration:
            raise NnbError(f"too many --input files: the network takes {len(input_names)} "
                           f"({', '.join(input_names)})") from None
        out[name] = read_npy(spec)
    return out


def int8_model(path: str, g):  # noqa: ANN001, ANN202 - a Graph; an Int8Model or None
    """The int8 model of an int8 .nnb or an int8 (or DQ-deployed) .nnq, else None."""
    low = path.lower()
    if low.endswith(".nnb") and g.executor == "int8":
        from nnb.emit.nnb_int8_read import read_int8_nnb

        with open(path, "rb") as f:
            return read_int8_nnb(f.read(), path)
    if low.endswith(".nnq"):
        from nnb.quantize.int8 import from_quantized, is_int8_model
        from nnb.quantize.qmodel import load_quantized

        qm = load_quantized(path)
        if is_int8_model(qm):
            return from_quantized(qm)
    return None


def fixed_model(path: str, g=None):  # noqa: ANN001, ANN202 - a Graph or None; a FixedModel or None
    """The fixed-point model of a fixed8/fixed16 .nnq or of a compatible NNB whose variables are all FIXED8 or
    all FIXED16 (nnb quantize --nnb, nnb convert, nnabla's converter), else None."""
    low = path.lower()
    if low.endswith(".nnb") and (g is None or g.executor != "int8") and os.path.isfile(path):
        from nnb.emit.nnb_int8_read import is_int8_image
        from nnb.quantize.fixed_nnb import fixed_model_from_nnb

        with open(path, "rb") as f:
            data = f.read()
        if is_int8_image(data):
            return None
        try:
            return fixed_model_from_nnb(data, path)
        except NnbError:  # a float (or mixed) file
            return None
    if low.endswith(".nnq"):
        from nnb.quantize import fixed
        from nnb.quantize.qmodel import load_quantized

        qm = load_quantized(path)
        if qm.method in fixed.METHODS:
            return fixed.from_quantized(qm)
    return None


# backends that decode a FIXED8/FIXED16 NNB to float values and compute in float
FLOAT_DECODING = {"reference": "the float reference", "emit-c": "the emitted C", "opencl": "the OpenCL kernels"}


def refuse_fixed_in_float(path: str, what: str, g=None) -> None:  # noqa: ANN001 - a Graph or None
    """A compatible NNB with FIXED8/FIXED16 variables given to a path that decodes it to float (the numpy
    reference, the emitted C, OpenCL): its results differ from the integers nnb's and nnabla's runtimes compute,
    and nothing said so. Refused like an int8 file in the float reference, naming what computes the integers."""
    fx = fixed_model(path, g) if path.lower().endswith((".nnb", ".nnq")) and os.path.isfile(path) else None
    if fx is not None:
        kind = f"a FIXED{fx.bits} NNB file" if path.lower().endswith(".nnb") else f"a calibrated fixed{fx.bits} model"
        sim = "" if path.lower().endswith(".nnb") else "; --backend intsim: its integer simulation"
        raise NnbError(f"{path}: {kind}; {what} has no fixed-point integer path (it decodes the values to float) "
                       "(the C runtime computes its integers: --backend c, or as firmware with nnb build / "
                       f"nnb run --board{sim})")


@contextlib.contextmanager
def nnb_path_for(path: str, backend: str) -> Iterator[str]:
    """The path a backend that reads NNB images is given: for a fixed8/fixed16 .nnq and the C runtime or a board,
    its compatible FIXED NNB (what nnb convert writes; a temporary file of the same base name), which the runtime
    computes in integers. They refused it: "NNB conversion has no integer path". Any other model: the path as is."""
    fx = fixed_model(path) if backend in ("c", "board") and path.lower().endswith(".nnq") else None
    if fx is None:
        yield path
        return
    from nnb.quantize.fixed import write_fixed_nnb

    image = write_fixed_nnb(fx)
    with tempfile.TemporaryDirectory(prefix="nnb-fixed-") as d:
        out = os.path.join(d, os.path.splitext(os.path.basename(path))[0] + ".nnb")
        with open(out, "wb") as f:
            f.write(image)
        yield out
