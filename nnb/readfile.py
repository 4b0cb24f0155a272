"""Reading a whole input file, with one-line errors: the readers of NNP, NNB, ONNX and board files share it."""

from __future__ import annotations

from nnb.errors import NnbError


def read_bytes(path: str, what: str = "file") -> bytes:
    """The bytes of ``path``; a missing, folder or unreadable path raises NnbError naming it (``what``: the
    kind of file the caller expects, for the message)."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise NnbError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise NnbError(f"{path}: is a folder, not a {what}") from None
    except OSError as e:
        raise NnbError(f"{path}: cannot read {what} ({e.strerror or e})") from None
