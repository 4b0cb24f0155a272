"""The local-memory tiled forms of convolution and affine (``opencl/conv_local.cl``, ``opencl/affine_local.cl``).

The GPU forms: each work group stages an input tile (with the kernel's halo) and a weight tile in ``__local``
memory and its work items accumulate register blocks.  Tile sizes are compile-time: every ``CONV_L(...)`` /
``AFFINE_L(...)`` line of the sources is one configuration, read here.  :func:`tiles_for` keeps the
configurations the device can run (work-group size within CL_DEVICE_MAX_WORK_GROUP_SIZE and the kernel's own
limit, local memory within CL_DEVICE_LOCAL_MEM_SIZE) when the device takes the local forms; the planner then
asks :meth:`Tiles.pick` for each layer: the configuration cached for the layer's shape (tuned on the device,
:mod:`nnb.backends.opencl_tune`) or the one wasting the least work, plus up to ``TRY`` alternatives to time.

Which devices take them: ``$NNB_OCL_FORMS`` = ``local`` (every device: how they are tested on PoCL), ``cpu``
(none, and the CPU forms of every op) or ``auto`` (default: GPUs and accelerators, i.e. anything but a CPU).
Pure Python apart from :func:`tiles_for`, which reads the device's limits.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from nnb.backends.opencl_plan import Launch, Planner
from nnb.errors import NnbError
from nnb.ir import Node

FORMS = ("auto", "local", "cpu")
TRY = 4  # configurations timed per layer shape on first use (the default first)
RP = 4  # output pixels of a row per work item in conv_local.cl (CL_RP)

_CONV = re.compile(r"^CONV_L\((\w+),\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+)\)", re.M)
_AFFINE = re.compile(r"^AFFINE_L\((\w+),\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+)\)", re.M)


@dataclass(frozen=True)
class TileConfig:
    """One compiled configuration: conv (to, ro, th, tw, lx, lw) or affine (tn, rn, to, ro, tk)."""

    kernel: str
    kind: str  # "conv" | "affine"
    dims: tuple[int, ...]

    @property
    def wg(self) -> int:
        """Work items per group (the kernel's reqd_work_group_size)."""
        if self.kind == "conv":
            to, ro, th, tw = self.dims[:4]
            return (to // ro) * (th * tw // RP)
        tn, rn, to, ro, _tk = self.dims
        return (tn // rn) * (to // ro)

    @property
    def local_bytes(self) -> int:
        """__local memory the configuration declares."""
        if self.kind == "conv":
            return 4 * (self.dims[4] + self.dims[5])
        tn, _rn, to, _ro, tk = self.dims
        return 4 * tk * (tn + to)


def configs(source: str) -> list[TileConfig]:
    """Every configuration instantiated in the program source, in source order."""
    out = [TileConfig(m.group(1), "conv", tuple(int(v) for v in m.groups()[1:])) for m in _CONV.finditer(source)]
    out += [TileConfig(m.group(1), "affine", tuple(int(v) for v in m.groups()[1:])) for m in _AFFINE.finditer(source)]
    return out


@dataclass
class Tiles:
    """The configurations a device can run and the per-layer choices cached for it."""

    usable: list[TileConfig]
    chosen: dict[str, Any] = field(default_factory=dict)  # the device's tuning cache ("tile|..." -> kernel name)
    local_mem: int = 0  # bytes of __local memory per group on the device
    multiple: int = 1  # the preferred work-group size multiple

    def pick(self, key: str, ranked: list[TileConfig]) -> tuple[TileConfig, list[TileConfig]]:
        """(configuration to run, the alternatives to time) for a layer: the cached one when it is still usable."""
        alts = ranked[:TRY]
        cached = self.chosen.get(key)
        for c in ranked:
            if c.kernel == cached:
                return c, alts
        return ranked[0], alts


def fit(all_configs: list[TileConfig], max_wg: int, local_mem: int, multiple: int,
        kernel_limits: dict[str, tuple[int, ...]] | None = None) -> list[TileConfig]:
    """The configurations within the device's limits: work-group size (device and kernel) and local memory (what
    the kernel declares or what the driver reports for it, whichever is larger); work-group sizes that are a
    multiple of the preferred one first."""
    ok = []
    for c in all_configs:
        k_wg, k_local = (kernel_limits or {}).get(c.kernel, (max_wg, 0))[:2]
        if c.wg <= min(max_wg, k_wg) and max(c.local_bytes, k_local) <= local_mem:
            ok.append(c)
    return sorted(ok, key=lambda c: c.wg % max(1, multiple) != 0)


def forms_setting() -> str:
    v = (os.environ.get("NNB_OCL_FORMS") or "auto").strip().lower()
    if v not in FORMS:
        raise NnbError(f"NNB_OCL_FORMS must be one of {', '.join(FORMS)}, got '{v}'")
    return v


def wants_local(is_cpu: bool) -> bool:
    """Do convolution and affine take the local-memory forms on this kind of device?"""
    v = forms_setting()
    return v == "local" or (v == "auto" and not is_cpu)


def wants_cpu_forms(is_cpu: bool) -> bool:
    """The CPU forms for the other ops (and convolutions the local forms decline)."""
    return forms_setting() == "cpu" or is_cpu


def tiles_for(dev: Any, local: bool | None = None) -> Tiles | None:  # noqa: ANN401 - an opencl_device.Device
    """The local forms' configurations for ``dev`` (None when it does not take them, or none fits)."""
    if not (wants_local(dev.is_cpu) if local is None else local):
        return None
    limits = dev.limits()
    found = configs(dev.program_source)
    usable = fit(found, limits["max_work_group_size"], limits["local_mem_size"], limits["multiple"],
                 {c.kernel: dev.kernel_limits(c.kernel) for c in found})
    if not usable:
        return None
    return Tiles(usable, dict(dev.tuning()), limits["local_mem_size"], limits["multiple"])


# ---- per-layer ranking -----------------------------------------------------------------------------

def conv_ranked(tiles: Tiles, g: dict[str, int]) -> list[TileConfig]:
    """Usable conv configurations for a layer (geometry ``g``), least wasted work first, then larger tiles.

    A configuration must hold at least one input channel's tile in its local buffers."""
    kk = g["kh"] * g["kw"]
    useful = g["og"] * g["oh"] * g["ow"]
    scored = []
    for c in tiles.usable:
        if c.kind != "conv":
            continue
        to, _ro, th, tw, lx, lw = c.dims
        plane = ((th - 1) * g["sy"] + (g["kh"] - 1) * g["dy"] + 1) * ((tw - 1) * g["sx"] + (g["kw"] - 1) * g["dx"] + 1)
        if lx < plane or lw < to * kk:
            continue
        done = -(-g["og"] // to) * to * -(-g["oh"] // th) * th * -(-g["ow"] // tw) * tw
        scored.append((round(done / useful, 1), -to * th * tw, c))
    scored.sort(key=lambda s: (s[0], s[1]))
    return [s[2] for s in scored]


def affine_ranked(tiles: Tiles, batch: int, nout: int) -> list[TileConfig]:
    scored = []
    for c in tiles.usable:
        if c.kind != "affine":
            continue
        tn, _rn, to, _ro, _tk = c.dims
        done = -(-batch // tn) * tn * -(-nout // to) * to
        scored.append((round(done / (batch * nout), 1), -tn * to, c))
    scored.sort(key=lambda s: (s[0], s[1]))
    return [s[2] for s in scored]


# ---- launches ----------------------------------------------------------------------------------------

def _launch(pl: Planner, n: Node, params: list[int], key: str, ranked: list[TileConfig], groups: dict[str, int]) \
        -> None:
    """The chosen configuration's launch, with its alternatives (kernel, work items, group size) for tuning."""
    cfg, alts = pl.tiles.pick(key, ranked)
    items = {c.kernel: groups[c.kernel] * c.wg for c in alts + [cfg]}
    pl.lay.launches.append(Launch(cfg.kernel, params, items[cfg.kernel], n.name, local=cfg.wg,
                                  alts=[(c.kernel, items[c.kernel], c.wg) for c in alts], tune_key=key))


def conv_local(pl: Planner, n: Node, params: list[int], nsp: int, dw: bool, group: int, cin: int, cout: int) \
        -> bool:
    """A 2-D convolution without pooling, not depthwise (that keeps its own forms): one launch of the
    local-memory form.  False when no configuration holds its tiles."""
    k = pl.k
    if nsp != 2 or params[k["C_POOL"]] != 0 or dw or (group > 1 and cin == group):
        return False
    g2 = lambda key: params[k[key]:k[key] + 2]  # noqa: E731
    (h, w), (oh, ow), (kh, kw) = g2("C_IN"), g2("C_CO"), g2("C_K")
    (sy, sx), (dy, dx), (py, px) = g2("C_STRIDE"), g2("C_DIL"), g2("C_PAD")
    geo = {"og": cout // group, "oh": oh, "ow": ow, "kh": kh, "kw": kw, "sy": sy, "sx": sx, "dy": dy, "dx": dx}
    ranked = conv_ranked(pl.tiles, geo)
    if not ranked:
        return False
    batch = params[k["C_BATCH"]]
    groups = {}
    for c in ranked:
        to, _ro, th, tw = c.dims[:4]
        groups[c.kernel] = batch * group * -(-(cout // group) // to) * -(-oh // th) * -(-ow // tw)
    key = f"tile|conv|{batch}|{cin}|{cout}|{group}|{h}x{w}|{kh}x{kw}|s{sy}x{sx}|d{dy}x{dx}|p{py}x{px}"
    _launch(pl, n, params, key, ranked, groups)
    return True


def affine_local(pl: Planner, n: Node, params: list[int]) -> bool:
    """Affine of a batch > 1: one launch of the local-memory form."""
    batch, nin, nout = params[:3]
    if batch < 2:
        return False
    ranked = affine_ranked(pl.tiles, batch, nout)
    if not ranked:
        return False
    groups = {c.kernel: -(-batch // c.dims[0]) * -(-nout // c.dims[2]) for c in ranked}
    _launch(pl, n, params, f"tile|affine|{batch}|{nin}|{nout}", ranked, groups)
    return True
