"""Shared helpers of the emit-c tests: compilers, make, emitting a zoo model."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if not path:
        pytest.skip(f"{tool} is not installed (apt-get install {package})")
    return path


def host_cc() -> str:
    for cc in (os.environ.get("CC"), "cc", "gcc"):
        if cc and shutil.which(cc):
            return cc
    pytest.skip("no host C compiler (apt-get install gcc)")
    return ""


def make(outdir: str, *args: str) -> None:
    need("make", "make")
    r = subprocess.run(["make", "-s", "-j2", "-C", outdir, *args], capture_output=True, text=True)
    assert r.returncode == 0, f"make {' '.join(args)} in {outdir} failed:\n{r.stdout}\n{r.stderr}"
    assert "warning" not in r.stderr.lower(), r.stderr
