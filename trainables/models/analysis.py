"""What an architecture costs and sees, read from its spec without training it.

The spec is built on PyTorch's ``meta`` device (no memory, no arithmetic), so the numbers are
those of the exact module a trial would train: parameters, multiply-accumulates per image, the
layer table, and the receptive field from the traced graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from trainables.models import create_model


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int


@dataclass(frozen=True)
class Analysis:
    params: int
    macs: int  # multiply-accumulates of the convolutions and linear layers, per image
    receptive_field: int  # pixels per side seen by one unit before global pooling
    layers: tuple[LayerRow, ...]
    dilated_convs: int
    separable_convs: int  # depthwise convs feeding a pointwise (1x1) conv
    max_pools: int
    global_pool: bool

    def figures(self) -> dict[str, int]:
        """What every epoch of a trial reports about its network (and the reports read back)."""
        return {"params": self.params, "macs": self.macs, "receptive_field": self.receptive_field}


def analyze(spec: Any) -> Analysis:
    """Parameters, MACs, layer table, receptive field and the structural facts the rules read."""
    with torch.device("meta"):
        model = create_model(spec).eval()
        x = torch.empty(1, spec.in_channels, spec.image_size, spec.image_size)
    layers, macs = _layer_table(model, x)
    graph = fx.symbolic_trace(model).graph
    modules = dict(model.named_modules())
    convs = [m for m in modules.values() if isinstance(m, nn.Conv2d)]
    return Analysis(
        params=sum(p.numel() for p in model.parameters()),
        macs=macs,
        receptive_field=receptive_field(graph, modules),
        layers=tuple(layers),
        dilated_convs=sum(max(c.dilation) > 1 and max(c.kernel_size) > 1 for c in convs),
        separable_convs=_count_separable(graph, modules),
        max_pools=sum(
            isinstance(m, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)) for m in modules.values()
        )
        + sum(n.op == "call_function" and "max_pool" in str(n.target) for n in graph.nodes),
        global_pool=any(_is_global_pool(m) for m in modules.values()),
    )


def layer_rows(analysis: Analysis) -> list[tuple[str, str, str, int]]:
    """(layer, type, output shape, params) per layer, as nas.summary and the reports show it."""
    return [(r.name, r.kind, str(list(r.output_shape)), r.params) for r in analysis.layers]


def _layer_table(model: nn.Module, x: torch.Tensor) -> tuple[list[LayerRow], int]:
    rows: list[LayerRow] = []
    macs = 0

    def hook(name: str):
        def record(module: nn.Module, inputs, output) -> None:
            nonlocal macs
            per_image = output.numel() // output.shape[0]
            if isinstance(module, nn.Conv2d):
                k = module.kernel_size[0] * module.kernel_size[1]
                macs += per_image * k * module.in_channels // module.groups
            elif isinstance(module, nn.Linear):
                macs += per_image * module.in_features
            params = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(LayerRow(name, type(module).__name__, tuple(output.shape[1:]), params))

        return record

    handles = [
        m.register_forward_hook(hook(name))
        for name, m in model.named_modules()
        if not list(m.children())
    ]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return rows, macs


def receptive_field(graph: fx.Graph, modules: dict[str, nn.Module]) -> int:
    """The largest receptive field over all input-to-output paths of a traced network.

    Along one path a layer of kernel k, dilation d and stride s grows the field by (k-1)*d*J,
    where J is the product of the strides before it; padding moves the field but does not
    widen it. Paths meet at additions, so each node keeps the (field, jump) pairs of the
    paths reaching it that no other pair beats on both counts. Global pooling ends a path: the
    field reported is that of one unit of the last feature map.
    """
    paths: dict[fx.Node, set[tuple[int, int]]] = {}
    ended: set[tuple[int, int]] = set()
    for node in graph.nodes:
        inputs = [paths[a] for a in node.all_input_nodes if a in paths]
        incoming = _pareto(set().union(*inputs)) if inputs else {(1, 1)}
        module = modules.get(node.target) if node.op == "call_module" else None
        if _is_global_pool(module):
            ended |= incoming
            continue
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, d, s = (
                _first(getattr(module, a, 1)) for a in ("kernel_size", "dilation", "stride")
            )
            incoming = {(rf + (k - 1) * d * jump, jump * s) for rf, jump in incoming}
        elif node.op == "output":
            ended |= incoming
            continue
        paths[node] = incoming
    return max(rf for rf, _ in ended)


def _pareto(pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    return {p for p in pairs if not any(q != p and q[0] >= p[0] and q[1] >= p[1] for q in pairs)}


def _first(value: int | tuple[int, ...]) -> int:
    return value[0] if isinstance(value, tuple) else value


def _is_global_pool(module: nn.Module | None) -> bool:
    return isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and _first(
        module.output_size
    ) in (1, None)


def _count_separable(graph: fx.Graph, modules: dict[str, nn.Module]) -> int:
    def conv(node: fx.Node) -> nn.Conv2d | None:
        m = modules.get(node.target) if node.op == "call_module" else None
        return m if isinstance(m, nn.Conv2d) else None

    count = 0
    for node in graph.nodes:
        dw = conv(node)
        if dw is None or not (dw.groups == dw.in_channels > 1):
            continue
        if any((pw := conv(u)) is not None and pw.kernel_size == (1, 1) for u in node.users):
            count += 1
    return count
