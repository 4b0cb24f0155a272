from __future__ import annotations

import pytest
from canon_helpers import builder, check, ops, rand

from nnb.passes.canon_pad import merge_pad

X = (1, 3, 7, 7)


def _graph(pad_width: tuple[int, ...], layer: str, mode: str = "constant", value: float = 0.0,
           **attrs: object):  # noqa: ANN202
    b = builder()
    x = b.input("x", X)
    p = b.op("Pad", [x], pad_width=pad_width, mode=mode, constant_value=value)
    if layer == "Convolution":
        y = b.op(layer, [p, b.param("w", rand(2, 3, 3, 3)), b.param("b", rand(2))], **attrs)
    elif layer == "DepthwiseConvolution":
        y = b.op(layer, [p, b.param("w", rand(3, 3, 3))], **attrs)
    else:
        y = b.op(layer, [p], kernel=(3, 3), stride=(2, 2), **attrs)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("pad_width,layer,attrs", [
    ((1, 1, 2, 2), "Convolution", {"pad": (1, 0), "stride": (2, 1)}),
    ((0, 0, 0, 0, 1, 1, 1, 1), "DepthwiseConvolution", {}),
    ((1, 1, 1, 1), "AveragePooling", {"including_pad": False}),
    ((1, 1, 1, 1), "AveragePooling", {"pad": (1, 1), "including_pad": True}),
])
def test_zero_pad_merged(pad_width: tuple[int, ...], layer: str, attrs: dict) -> None:
    g = check(_graph(pad_width, layer, **attrs), merge_pad, [rand(*X)], fired=1)
    assert ops(g) == [layer]


def test_minus_inf_pad_merged_into_max_pooling() -> None:
    g = check(_graph((1, 1, 1, 1), "MaxPooling", value=float("-inf"), pad=(1, 1)), merge_pad, [rand(*X)], fired=1)
    assert ops(g) == ["MaxPooling"] and g.nodes[0].attrs["pad"] == (2, 2)


@pytest.mark.parametrize("pad_width,layer,mode,attrs", [
    ((1, 2, 1, 1), "Convolution", "constant", {}),            # asymmetric
    ((1, 1, 1, 1), "Convolution", "reflect", {}),              # not zeros
    ((1, 1, 0, 0, 0, 0, 0, 0), "Convolution", "constant", {}),  # pads the batch axis
    ((1, 1, 1, 1), "MaxPooling", "constant", {}),              # max pads with -inf
    ((1, 1, 1, 1), "AveragePooling", "constant", {"pad": (1, 1), "including_pad": False}),
])
def test_not_equivalent_kept(pad_width: tuple[int, ...], layer: str, mode: str, attrs: dict) -> None:
    g = check(_graph(pad_width, layer, mode, **attrs), merge_pad, [rand(*X)], fired=0)
    assert ops(g) == ["Pad", layer]
