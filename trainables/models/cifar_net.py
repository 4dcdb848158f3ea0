"""The C1C2C3C40 family: small CIFAR nets of dilated and depthwise-separable convs, no pooling.

Every block sums a plain 3x3 conv and a dilated 3x3 conv, widens with a depthwise-separable conv,
and (except the last) halves the resolution in a transition: a 1x1 conv, then either a dilated
3x3 conv without padding whose dilation is a quarter of the input size (so 32 -> 16 exactly) or a
3x3 stride-2 conv; a 1x1 stride-2 conv of the block input is added as a skip. Global average
pooling and a 1x1 conv to the classes end the network. The ``seed`` preset is the reference
network (197,392 parameters, 85.7% CIFAR-10 test accuracy after 100 epochs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from trainables.models import register_model

NORMS = ("batch", "group", "layer")
DOWNSAMPLES = ("dilated", "stride")


@dataclass(frozen=True)
class CifarNetSpec:
    stem_width: int = 16
    widths: tuple[int, ...] = (32, 64, 64, 64)  # channels of the plain and dilated 3x3 convs
    expansions: tuple[int, ...] = (128, 128, 128, 128)  # output of the depthwise-separable conv
    dilations: tuple[int, ...] = (2, 2, 2, 2)  # dilation of each block's dilated branch
    transition_width: int = 32  # channels passed from one block to the next
    downsample: str = "dilated"  # "dilated" (no padding, size halves) or "stride"
    norm: str = "batch"  # "batch", "group" (4 groups) or "layer" (1 group)
    dropout: float = 0.1  # after every conv-norm-relu
    num_classes: int = 10
    in_channels: int = 3
    image_size: int = 32  # pixels per side; fixes the transition dilations

    @property
    def depth(self) -> int:
        return len(self.widths)

    def problems(self) -> list[str]:
        """Structural reasons this spec cannot be built (empty when it can)."""
        found = []
        if not (len(self.widths) == len(self.expansions) == len(self.dilations)):
            found.append("widths, expansions and dilations must have one entry per block")
        if self.downsample not in DOWNSAMPLES:
            found.append(f"downsample must be one of {DOWNSAMPLES}, got {self.downsample!r}")
        if self.norm not in NORMS:
            found.append(f"norm must be one of {NORMS}, got {self.norm!r}")
        if min(self.dilations, default=1) < 1:
            found.append("dilations must be >= 1")
        if self.norm == "group" and any(c % 4 for c in self._normed_widths()):
            found.append("group norm needs every normalised width divisible by 4")
        size = self.image_size
        for _ in range(self.depth - 1):
            if size < 4 or size % 4:
                found.append(f"a transition cannot halve a {size}x{size} map exactly")
                break
            size //= 2
        return found

    def _normed_widths(self) -> list[int]:
        return [self.stem_width, *self.widths, *self.expansions]


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.GroupNorm(4 if kind == "group" else 1, channels)


def conv_norm_act(
    cin: int, cout: int, norm: str, dropout: float, dilation: int = 1
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=False),
        _norm(norm, cout),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
    )


class SeparableConv(nn.Module):
    """Depthwise 3x3 then pointwise 1x1, both with bias, as in the reference network."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin)
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class Block(nn.Module):
    def __init__(self, spec: CifarNetSpec, index: int, cin: int, size: int, last: bool):
        super().__init__()
        width, expansion = spec.widths[index], spec.expansions[index]
        self.plain = conv_norm_act(cin, width, spec.norm, spec.dropout)
        self.dilated = conv_norm_act(cin, width, spec.norm, spec.dropout, spec.dilations[index])
        self.separable = nn.Sequential(
            SeparableConv(width, expansion),
            _norm(spec.norm, expansion),
            nn.ReLU(inplace=True),
            nn.Dropout(spec.dropout),
        )
        self.transition = self.skip = None
        if not last:
            cout = spec.transition_width
            if spec.downsample == "dilated":
                # Unpadded, a 3x3 conv of dilation d shrinks the map by 2d: d = size/4 halves it.
                halve = nn.Conv2d(cout, cout, 3, dilation=size // 4, bias=False)
            else:
                halve = nn.Conv2d(cout, cout, 3, stride=2, padding=1, bias=False)
            self.transition = nn.Sequential(nn.Conv2d(expansion, cout, 1, bias=False), halve)
            self.skip = nn.Conv2d(cin, cout, 1, stride=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.separable(self.plain(x) + self.dilated(x))
        if self.transition is None:
            return out
        return self.transition(out) + self.skip(x)


class CifarNet(nn.Module):
    def __init__(self, spec: CifarNetSpec):
        super().__init__()
        self.spec = spec
        self.stem = conv_norm_act(spec.in_channels, spec.stem_width, spec.norm, spec.dropout)
        blocks, cin, size = [], spec.stem_width, spec.image_size
        for i in range(spec.depth):
            last = i == spec.depth - 1
            blocks.append(Block(spec, i, cin, size, last))
            cin, size = spec.transition_width, size // 2
        self.blocks = nn.Sequential(*blocks)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Conv2d(spec.expansions[-1], spec.num_classes, 1, bias=False)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled feature vector before the classifier."""
        return self.gap(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x)).flatten(1)


@register_model("cifar_net", CifarNetSpec)
def build_cifar_net(spec: CifarNetSpec) -> nn.Module:
    return CifarNet(spec)
