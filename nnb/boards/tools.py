"""Finding and running the cross toolchain and QEMU; one-line errors naming the Debian package."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time

from nnb.errors import NnbError

# the C runtime's sources (NNB_C_RUNTIME overrides: e.g. a checkout of another version)
C_RUNTIME = os.environ.get("NNB_C_RUNTIME") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "c_runtime")

PACKAGES = {
    "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "arm-none-eabi-ar": "binutils-arm-none-eabi",
    "qemu-system-arm": "qemu-system-arm",
    "gcc": "gcc",
    "ar": "binutils",
    "make": "make",
}


def need_tool(name: str, why: str) -> str:
    """The path of a program, or an NnbError naming the Debian package that provides it."""
    path = shutil.which(name)
    if path is None:
        pkg = PACKAGES.get(name, name)
        raise NnbError(f"{why} needs '{name}', which is not installed (apt-get install {pkg})")
    return path


def ar_for(cc: str) -> str:
    return cc[:-3] + "ar" if cc.endswith("-gcc") else "ar"


def run_checked(cmd: list[str], what: str, cwd: str | None = None, timeout: float = 900) -> str:
    """Run a build step; a failure is one line with the tool's last error line."""
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise NnbError(f"{what}: '{cmd[0]}' is not installed") from None
    except subprocess.TimeoutExpired:
        raise NnbError(f"{what}: timed out after {timeout:.0f} s") from None
    if r.returncode != 0:
        lines = [x for x in (r.stderr + r.stdout).strip().splitlines() if x.strip()]
        errs = ([x for x in lines if re.search(r"\berror\b:|undefined reference|overflow", x)]
                or [x for x in lines if "***" in x] or lines[-1:] or ["unknown error"])
        raise NnbError(f"{what} failed: {errs[0].strip()}")
    return r.stdout


_pruned: set[str] = set()
KEEP_DAYS = 14


def cache_root() -> str:
    """Where built firmware and runtime libraries are kept (NNB_CACHE, default ~/.cache/nnb/fw). Entries not
    used for KEEP_DAYS days are removed (once per process); :func:`touch` marks an entry as used."""
    root = os.environ.get("NNB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "nnb", "fw")
    os.makedirs(root, exist_ok=True)
    if root not in _pruned:
        _pruned.add(root)
        old = time.time() - KEEP_DAYS * 86400
        for name in os.listdir(root):
            path = os.path.join(root, name)
            try:
                if os.path.isdir(path) and name.startswith(("rt-", "fw-")) and os.path.getmtime(path) < old:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                pass
    return root


def touch(path: str) -> None:
    """Mark a cache entry as used (its directory's time)."""
    try:
        os.utime(path)
    except OSError:
        pass


def tree_hash(paths: list[str], extra: bytes = b"") -> str:
    """Content hash of files (and directories, recursively) plus extra bytes."""
    h = hashlib.sha256(extra)
    for top in paths:
        files = [top] if os.path.isfile(top) else sorted(
            os.path.join(d, f) for d, _, fs in os.walk(top) for f in fs)
        for p in files:
            if p.endswith((".o", ".a", ".su", ".ci", ".pyc")):
                continue
            h.update(os.path.relpath(p, top).encode() + b"\0")
            with open(p, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:16]
