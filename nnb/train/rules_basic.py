"""Backward rules for Affine, activations, arithmetic, Reshape, Softmax and BatchNormalization."""

from __future__ import annotations

import numpy as np

from nnb.ops.array import reshape_target
from nnb.ops.normalization import bn_inputs
from nnb.ops.registry import norm_axis, prod
from nnb.train.rules import Attrs, Ctx, Grad, rule, unbroadcast

# ---- Affine --------------------------------------------------------------------


def _affine_fw(xs: list[np.ndarray], a: Attrs, c: Ctx) -> list[np.ndarray]:
    x, w = xs[0], xs[1]
    ba = norm_axis(a["base_axis"], x.ndim)
    x2 = x.reshape(prod(x.shape[:ba]), -1)
    w2 = w.reshape(w.shape[0], -1)
    y = x2 @ w2
    if len(xs) > 2:
        y += xs[2].reshape(1, -1)
    c.saved.update(x2=x2, w2=w2, xshape=x.shape, wshape=w.shape, bshape=xs[2].shape if len(xs) > 2 else None)
    return [y.reshape(x.shape[:ba] + w.shape[1:])]


@rule("Affine", _affine_fw)
def _affine_bw(gys: list[Grad], a: Attrs, c: Ctx) -> list[Grad]:
    s = c.saved
    g2 = gys[0].reshape(s["x2"].shape[0], -1)
    gx = (g2 @ s["w2"].T).reshape(s["xshape"]) if c.needs[0] else None
    gw = (s["x2"].T @ g2).reshape(s["wshape"]) if c.needs[1] else None
    out: list[Grad] = [gx, gw]
    if s["bshape"] is not None:
        out.append(g2.sum(axis=0).reshape(s["bshape"]) if c.needs[2] else None)
    return out


# ---- elementwise activations ------------------------------------------------------

def _act(op: str, fw, dydx) -> None:  # noqa: ANN001 - table helper
    """Register an activation whose derivative is a function of (x, y, attrs)."""

    def forward(xs: list[np.ndarray], a: Attrs, c: Ctx) -> list[np.ndarray]:
        y = fw(xs[0], a)
        c.saved.update(x=xs[0], y=y)
        return [y]

    def backward(gys: list[Grad], a: Attrs, c: Ctx) -> list[Grad]:
        return [gys[0] * dydx(c.saved["x"], c.saved["y"], a)]

    rule(op, forward)(backward)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


_act("ReLU", lambda x, a: np.maximum(x, 0), lambda x, y, a: x > 0)
_act("LeakyReLU", lambda x, a: np.where(x > 0, x, x * a["alpha"]),
     lambda x, y, a: np.where(x > 0, 1, a["alpha"]).astype(x.dtype))
_act("ReLU6", lambda x, a: np.clip(x, 0, 6), lambda x, y, a: (x > 0) & (x < 6))
_act("Sigmoid", lambda x, a: _sigmoid(x), lambda x, y, a: y * (1 - y))
_act("Tanh", lambda x, a: np.tanh(x), lambda x, y, a: 1 - y * y)
_act("Identity", lambda x, a: x, lambda x, y, a: 1)
_act("MulScalar", lambda x, a: x * a["val"], lambda x, y, a: a["val"])
_act("AddScalar", lambda x, a: x + a["val"], lambda x, y, a: 1)


# ---- two-input arithmetic (numpy broadcasting) ------------------------------------

def _binary(op: str, fw, ga, gb) -> None:  # noqa: ANN001 - table helper
    def forward(xs: list[np.ndarray], a: Attrs, c: Ctx) -> list[np.ndarray]:
        c.saved.update(a=xs[0], b=xs[1])
        return [fw(xs[0], xs[1])]

    def backward(gys: list[Grad], a: Attrs, c: Ctx) -> list[Grad]:
        x, y, g = c.saved["a"], c.saved["b"], gys[0]
        return [unbroadcast(ga(g, x, y), x.shape) if c.needs[0] else None,
                unbroadcast(gb(g, x, y), y.shape) if c.needs[1] else None]

    rule(op, forward)(backward)


_binary("Add2", np.add, lambda g, x, y: g, lambda g, x, y: g)
_binary("BcAdd2", np.add, lambda g, x, y: g, lambda g, x, y: g)
_binary("Sub2", np.subtract, lambda g, x, y: g, lambda g, x, y: -g)
_binary("Mul2", np.multiply, lambda g, x, y: g * y, lambda g, x, y: g * x)
_binary("Div2", np.divide, lambda g, x, y: g / y, lambda g, x, y: -g * x / (y * y))


# ---- Reshape ------------------------------------------------------------------------

def _reshape_fw(xs: list[np.ndarray], a: Attrs, c: Ctx) -> list[np.ndarray]:
    c.saved["shape"] = xs[0].shape
    return [xs[0].reshape(reshape_target(xs[0].shape, a["shape"] or ()))]


@rule("Reshape", _reshape_fw)
def _reshape_bw(gys: list[Grad], a: Attrs, c: Ctx) -> list[Grad]:
    return [gys[0].reshape(c.saved["shape"])]


# ---- Softmax ------------------------------------------------------------------------

def _softmax_fw(xs: list[np.ndarray], a: Attrs, c: Ctx) -> list[np.ndarray]:
    x = xs[0]
    ax = norm_axis(a["axis"] if a["axis"] is not None else x.ndim - 1, x.ndim)
    e = np.exp(x - x.max(axis=ax, keepdims=True))
    y = e / e.sum(axis=ax, keepdims=True)
    c.saved.update(y=y, ax=ax)
    return [y]


@rule("Softmax", _softmax_fw)
def _softmax_bw(gys: list[Grad], a: Attrs, c: Ctx) -> list[Grad]:
    y, ax, g = c.saved["y"], c.saved["ax"], gys[0]
    return [y * (g - (g * y).sum(axis=ax, keepdims=True))]


# ---- BatchNormalization ---------------------------------------------------------------

def _bn_fw(xs: list[np.ndarray], a: Attrs, c: Ctx) -> list[np.ndarray]:
    """Batch statistics while training (as nnabla's batch_stat=True), running statistics otherwise.

    While training with ``update_stats`` the running mean/variance arrays are
    updated in place like nnabla: ``r = decay * r + (1 - decay) * batch``,
    the variance term unbiased (n / (n - 1)).
    """
    idx = bn_inputs(len(xs), a)
    x = xs[0]
    axes = [norm_axis(ax, x.ndim) for ax in a["axes"] or (1,)]
    shape = tuple(x.shape[i] if i in axes else 1 for i in range(x.ndim))
    red = tuple(i for i in range(x.ndim) if i not in axes)
    batch = c.training
    if batch:
        mean = x.mean(axis=red, keepdims=True)
        xc = x - mean
        var = (xc * xc).mean(axis=red, keepdims=True)
        if c.update_stats:
            n = x.size // prod(shape)
            d = a["decay_rate"]
            rm, rv = xs[idx["mean"]], xs[idx["variance"]]
            rm[...] = (d * rm + (1 - d) * mean.reshape(rm.shape)).astype(rm.dtype)
            rv[...] = (d * rv + (1 - d) * var.reshape(rv.shape) * (n / max(n - 1, 1))).astype(rv.dtype)
    else:
        mean = xs[idx["mean"]].reshape(shape)
        var = xs[idx["variance"]].reshape(shape)
        xc = x - mean
    inv = 1 / np.sqrt(var + np.asarray(a["eps"], dtype=x.dtype))
    xhat = xc * inv
    gamma = xs[idx["gamma"]].reshape(shape) if "gamma" in idx else None
    y = xhat * gamma if gamma is not None else xhat.copy()
    if "beta" in idx:
        y += xs[idx["beta"]].reshape(shape)
    c.saved.update(xhat=xhat, inv=inv, gamma=gamma, red=red, idx=idx, batch=batch, xc=xc,
                   pshape={k: xs[i].shape for k, i in idx.items()})
    return [y]


@rule("BatchNormalization", _bn_fw)
def _bn_bw(gys: list[Grad], a: Attrs, c: Ctx) -> list[Grad]:
    s = c.saved
    g, xhat, inv, red, idx = gys[0], s["xhat"], s["inv"], s["red"], s["idx"]
    out: list[Grad] = [None] * len(idx)
    if "beta" in idx and c.needs[idx["beta"]]:
        out[idx["beta"]] = g.sum(axis=red).reshape(s["pshape"]["beta"])
    if "gamma" in idx and c.needs[idx["gamma"]]:
        out[idx["gamma"]] = (g * xhat).sum(axis=red).reshape(s["pshape"]["gamma"])
    gxhat = g * s["gamma"] if s["gamma"] is not None else g
    if s["batch"]:
        if c.needs[0]:
            out[0] = inv * (gxhat - gxhat.mean(axis=red, keepdims=True)
                            - xhat * (gxhat * xhat).mean(axis=red, keepdims=True))
        return out
    if c.needs[0]:
        out[0] = gxhat * inv
    if c.needs[idx["mean"]]:
        out[idx["mean"]] = -(gxhat * inv).sum(axis=red).reshape(s["pshape"]["mean"])
    if c.needs[idx["variance"]]:
        out[idx["variance"]] = (gxhat * s["xc"] * (-0.5) * inv ** 3).sum(axis=red).reshape(s["pshape"]["variance"])
    return out
