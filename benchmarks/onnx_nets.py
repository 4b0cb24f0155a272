"""Classic ImageNet architectures as ONNX graphs with random weights (onnx.helper).

AlexNet, VGG-11/16, ResNet-18/50, GoogLeNet (Inception v1), DenseNet-121,
SqueezeNet 1.1 and ShuffleNet v2 in the forms exporters write (Conv with
bias or BatchNormalization, LRN, ceil-mode pooling, Dropout, Flatten + Gemm,
channel shuffle as Reshape-Transpose-Reshape, Concat).  ``width`` scales
every channel count and ``size`` the input, so tests build them small and
benchmarks at full size (width 1, size 224).  He-initialised weights keep
activations in range.

usage: python benchmarks/onnx_nets.py NAME OUT.onnx [--width 1] [--size 224] [--opset 13]
"""

from __future__ import annotations

import argparse

import numpy as np

try:
    from onnx import TensorProto, helper, numpy_helper
except ImportError:  # pragma: no cover - the benchmarks say so
    helper = None


class Net:
    """Append-only ONNX graph builder; every method returns its output's name."""

    def __init__(self, c_in: int, size: int, seed: int = 0, width: float = 1.0, logits: bool = False) -> None:
        self.logits = logits  # end at the last Gemm/Conv instead of Softmax
        self.nodes: list = []
        self.inits: list = []
        self.rng = np.random.default_rng(seed)
        self.width = width
        self.shape = {"x": (1, c_in, size, size)}
        self.n = 0

    def ch(self, c: int) -> int:
        return max(4, int(round(c * self.width)))

    def _name(self, op: str) -> str:
        self.n += 1
        return f"{op.lower()}{self.n}"

    def _const(self, data: np.ndarray, hint: str) -> str:
        name = self._name(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(data, dtype=np.float32), name))
        return name

    def _node(self, op: str, ins: list[str], **attrs: object) -> str:
        out = self._name(op)
        self.nodes.append(helper.make_node(op, ins, [out], name=out + "_node", **attrs))
        return out

    def conv(self, x: str, cout: int, k: int, s: int = 1, p: int = 0, group: int = 1, bias: bool = True) -> str:
        n, c, h, w = self.shape[x]
        wt = self.rng.standard_normal((cout, c // group, k, k)) * np.sqrt(2.0 / (c // group * k * k))
        ins = [x, self._const(wt, "w")] + ([self._const(self.rng.standard_normal(cout) * 0.05, "b")] if bias else [])
        y = self._node("Conv", ins, kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, group=group)
        self.shape[y] = (n, cout, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
        return y

    def bn(self, x: str) -> str:
        c = self.shape[x][1]
        r = self.rng
        ins = [x, self._const(1 + 0.1 * r.standard_normal(c), "g"), self._const(0.1 * r.standard_normal(c), "be"),
               self._const(0.1 * r.standard_normal(c), "m"), self._const(1 + 0.1 * np.abs(r.standard_normal(c)), "v")]
        y = self._node("BatchNormalization", ins, epsilon=1e-5)
        self.shape[y] = self.shape[x]
        return y

    def act(self, x: str, op: str = "Relu") -> str:
        y = self._node(op, [x])
        self.shape[y] = self.shape[x]
        return y

    def cbr(self, x: str, cout: int, k: int, s: int = 1, p: int = 0, group: int = 1, relu: bool = True) -> str:
        y = self.bn(self.conv(x, cout, k, s, p, group, bias=False))
        return self.act(y) if relu else y

    def pool(self, x: str, op: str, k: int, s: int, p: int = 0, ceil: int = 0) -> str:
        n, c, h, w = self.shape[x]
        attrs = dict(kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, ceil_mode=ceil)
        if op == "AveragePool":
            attrs["count_include_pad"] = 0
        y = self._node(op, [x], **attrs)

        def out(v: int) -> int:
            o = (-(-(v + 2 * p - k) // s) if ceil else (v + 2 * p - k) // s) + 1
            return o - 1 if ceil and (o - 1) * s >= v + p else o
        self.shape[y] = (n, c, out(h), out(w))
        return y

    def gap(self, x: str) -> str:
        y = self._node("GlobalAveragePool", [x])
        self.shape[y] = self.shape[x][:2] + (1, 1)
        return y

    def concat(self, xs: list[str]) -> str:
        y = self._node("Concat", xs, axis=1)
        s = self.shape[xs[0]]
        self.shape[y] = (s[0], sum(self.shape[x][1] for x in xs)) + s[2:]
        return y

    def add(self, a: str, b: str) -> str:
        y = self._node("Add", [a, b])
        self.shape[y] = self.shape[a]
        return y

    def head(self, x: str, hidden: list[int], classes: int, dropout: bool = False) -> str:
        """Flatten -> [Dropout] -> (Gemm -> Relu)* -> Gemm -> Softmax."""
        s = self.shape[x]
        y = self._node("Flatten", [x], axis=1)
        f = int(np.prod(s[1:]))
        for h in hidden + [classes]:
            if dropout:
                y = self._node("Dropout", [y])
            w = self.rng.standard_normal((h, f)) * np.sqrt(2.0 / f)
            y = self._node("Gemm", [y, self._const(w, "fw"), self._const(self.rng.standard_normal(h) * 0.05, "fb")],
                           transB=1)
            if h != classes:
                y = self._node("Relu", [y])
            f = h
        return y if self.logits else self._node("Softmax", [y], axis=1)

    def model(self, out: str, opset: int = 13) -> bytes:
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, self.shape["x"])
        g = helper.make_graph(self.nodes, "net", [x], [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
                              self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 7
        return m.SerializeToString()


def alexnet(n: Net, classes: int) -> str:
    y = n.act(n.conv("x", n.ch(64), 11, 4, 2))
    y = n.pool(n._lrn(y), "MaxPool", 3, 2)
    y = n.pool(n._lrn(n.act(n.conv(y, n.ch(192), 5, 1, 2))), "MaxPool", 3, 2)
    for c in (384, 256, 256):
        y = n.act(n.conv(y, n.ch(c), 3, 1, 1))
    y = n.pool(y, "MaxPool", 3, 2)
    return n.head(y, [n.ch(4096), n.ch(4096)], classes, dropout=True)


def _lrn(self: Net, x: str) -> str:
    y = self._node("LRN", [x], size=5, alpha=1e-4, beta=0.75, bias=2.0)
    self.shape[y] = self.shape[x]
    return y


Net._lrn = _lrn  # type: ignore[attr-defined]


def vgg(n: Net, classes: int, cfg: tuple) -> str:
    y = "x"
    for v in cfg:
        y = n.pool(y, "MaxPool", 2, 2) if v == "M" else n.act(n.conv(y, n.ch(v), 3, 1, 1))
    return n.head(y, [n.ch(4096), n.ch(4096)], classes, dropout=True)


def resnet(n: Net, classes: int, blocks: tuple[int, ...], bottleneck: bool) -> str:
    y = n.pool(n.cbr("x", n.ch(64), 7, 2, 3), "MaxPool", 3, 2, 1)
    for stage, count in enumerate(blocks):
        mid = n.ch(64 * 2 ** stage)
        out = mid * 4 if bottleneck else mid
        for b in range(count):
            s = 2 if stage > 0 and b == 0 else 1
            if bottleneck:
                r = n.cbr(n.cbr(y, mid, 1), mid, 3, s, 1)
                r = n.cbr(r, out, 1, relu=False)
            else:
                r = n.cbr(n.cbr(y, mid, 3, s, 1), mid, 3, 1, 1, relu=False)
            skip = y if s == 1 and n.shape[y][1] == out else n.cbr(y, out, 1, s, relu=False)
            y = n.act(n.add(r, skip))
    return n.head(n.gap(y), [], classes)


def googlenet(n: Net, classes: int) -> str:
    def inception(x: str, c1: int, c3r: int, c3: int, c5r: int, c5: int, pp: int) -> str:
        b1 = n.act(n.conv(x, n.ch(c1), 1))
        b2 = n.act(n.conv(n.act(n.conv(x, n.ch(c3r), 1)), n.ch(c3), 3, 1, 1))
        b3 = n.act(n.conv(n.act(n.conv(x, n.ch(c5r), 1)), n.ch(c5), 5, 1, 2))
        b4 = n.act(n.conv(n.pool(x, "MaxPool", 3, 1, 1), n.ch(pp), 1))
        return n.concat([b1, b2, b3, b4])

    y = n.pool(n.act(n.conv("x", n.ch(64), 7, 2, 3)), "MaxPool", 3, 2, 0, ceil=1)
    y = n._lrn(y)
    y = n.act(n.conv(n.act(n.conv(y, n.ch(64), 1)), n.ch(192), 3, 1, 1))
    y = n.pool(n._lrn(y), "MaxPool", 3, 2, 0, ceil=1)
    y = inception(inception(y, 64, 96, 128, 16, 32, 32), 128, 128, 192, 32, 96, 64)
    y = n.pool(y, "MaxPool", 3, 2, 0, ceil=1)
    for cfg in ((192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
                (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128)):
        y = inception(y, *cfg)
    y = n.pool(y, "MaxPool", 2, 2, 0, ceil=1)
    y = inception(inception(y, 256, 160, 320, 32, 128, 128), 384, 192, 384, 48, 128, 128)
    return n.head(n.gap(y), [], classes, dropout=True)


def densenet121(n: Net, classes: int) -> str:
    growth = n.ch(32)
    y = n.pool(n.cbr("x", n.ch(64), 7, 2, 3), "MaxPool", 3, 2, 1)
    for i, layers in enumerate((6, 12, 24, 16)):
        for _ in range(layers):
            h = n.conv(n.act(n.bn(y)), 4 * growth, 1, bias=False)
            h = n.conv(n.act(n.bn(h)), growth, 3, 1, 1, bias=False)
            y = n.concat([y, h])
        if i < 3:
            y = n.conv(n.act(n.bn(y)), n.shape[y][1] // 2, 1, bias=False)
            y = n.pool(y, "AveragePool", 2, 2)
    return n.head(n.gap(n.act(n.bn(y))), [], classes)


def squeezenet11(n: Net, classes: int) -> str:
    def fire(x: str, s: int, e: int) -> str:
        q = n.act(n.conv(x, n.ch(s), 1))
        return n.concat([n.act(n.conv(q, n.ch(e), 1)), n.act(n.conv(q, n.ch(e), 3, 1, 1))])

    y = n.pool(n.act(n.conv("x", n.ch(64), 3, 2)), "MaxPool", 3, 2, 0, ceil=1)
    y = n.pool(fire(fire(y, 16, 64), 16, 64), "MaxPool", 3, 2, 0, ceil=1)
    y = n.pool(fire(fire(y, 32, 128), 32, 128), "MaxPool", 3, 2, 0, ceil=1)
    for s, e in ((48, 192), (48, 192), (64, 256), (64, 256)):
        y = fire(y, s, e)
    y = n._node("Dropout", [y])
    n.shape[y] = n.shape[n.nodes[-1].input[0]]
    y = n.act(n.conv(y, classes, 1))
    y = n._node("Flatten", [n.gap(y)], axis=1)
    return y if n.logits else n._node("Softmax", [y], axis=1)


def shufflenet_v2(n: Net, classes: int) -> str:
    def shuffle(x: str) -> str:
        b, c, h, w = n.shape[x]
        r = n._node("Reshape", [x, n._shape(b, 2, c // 2, h, w)])
        t = n._node("Transpose", [r], perm=[0, 2, 1, 3, 4])
        y = n._node("Reshape", [t, n._shape(b, c, h, w)])
        n.shape[y] = n.shape[x]
        return y

    def unit(x: str, out: int, s: int) -> str:
        b, c, h, w = n.shape[x]
        if s == 1:
            left = n._node("Slice", [x, n._ints(0), n._ints(c // 2), n._ints(1)])
            right = n._node("Slice", [x, n._ints(c // 2), n._ints(c), n._ints(1)])
            n.shape[left] = n.shape[right] = (b, c // 2, h, w)
        else:
            left = n.cbr(n.cbr(x, c, 3, 2, 1, group=c, relu=False), out // 2, 1)
            right = x
        r = n.cbr(right, out // 2, 1)
        r = n.cbr(r, out // 2, 3, s, 1, group=out // 2, relu=False)
        r = n.cbr(r, out // 2, 1)
        return shuffle(n.concat([left, r]))

    y = n.pool(n.cbr("x", n.ch(24), 3, 2, 1), "MaxPool", 3, 2, 1)
    for out, reps in ((116, 4), (232, 8), (464, 4)):
        o = 2 * max(2, n.ch(out) // 2)
        for i in range(reps):
            y = unit(y, o, 2 if i == 0 else 1)
    y = n.cbr(y, n.ch(1024), 1)
    return n.head(n.gap(y), [], classes)


def _shape(self: Net, *dims: int) -> str:
    name = self._name("shape")
    self.inits.append(numpy_helper.from_array(np.array(dims, dtype=np.int64), name))
    return name


Net._shape = _shape  # type: ignore[attr-defined]
Net._ints = _shape  # type: ignore[attr-defined]

NETS = {
    "alexnet": alexnet,
    "vgg11": lambda n, k: vgg(n, k, (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")),
    "vgg16": lambda n, k: vgg(n, k, (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                                     512, 512, 512, "M")),
    "resnet18": lambda n, k: resnet(n, k, (2, 2, 2, 2), False),
    "resnet50": lambda n, k: resnet(n, k, (3, 4, 6, 3), True),
    "googlenet": googlenet,
    "densenet121": densenet121,
    "squeezenet1.1": squeezenet11,
    "shufflenet_v2": shufflenet_v2,
}


def build(name: str, width: float = 1.0, size: int = 224, classes: int = 1000, seed: int = 0, opset: int = 13,
          logits: bool = False) -> bytes:
    """The serialized ONNX model of architecture ``name``."""
    if helper is None:
        raise RuntimeError("the onnx package is not installed (pip install onnx)")
    n = Net(3, size, seed, width, logits)
    return n.model(NETS[name](n, classes), opset)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(NETS))
    ap.add_argument("out")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--opset", type=int, default=13)
    a = ap.parse_args()
    with open(a.out, "wb") as f:
        f.write(build(a.name, a.width, a.size, opset=a.opset))


if __name__ == "__main__":
    main()
