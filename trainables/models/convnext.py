"""ConvNeXt-style networks: the alternative family of the face space.

A 4x4 stride-4 patchify stem; per stage, blocks of a depthwise 7x7 conv, channel LayerNorm, a
1x1 expansion to 4x with GELU and a 1x1 projection, added to the block input; a LayerNorm and a
2x2 stride-2 conv between stages; global average pooling, LayerNorm, linear classifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from trainables.models import register_model, stage_problems


@dataclass(frozen=True)
class ConvNeXtSpec:
    layers: tuple[int, ...] = (3, 3, 9, 3)  # blocks per stage
    widths: tuple[int, ...] = (96, 192, 384, 768)  # channels per stage
    dropout: float = 0.0  # before the classifier
    num_classes: int = 7000
    in_channels: int = 3
    image_size: int = 224

    def problems(self) -> list[str]:
        # The stem divides by 4, every stage after the first by 2 more.
        smallest = 4 * 2 ** (len(self.layers) - 1)
        return stage_problems(self.layers, self.widths, self.image_size, smallest)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor, at every pixel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = LayerNorm2d(channels)
        self.expand = nn.Conv2d(channels, 4 * channels, 1)
        self.act = nn.GELU()
        self.project = nn.Conv2d(4 * channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project(self.act(self.expand(self.norm(self.depthwise(x)))))


class ConvNeXt(nn.Module):
    def __init__(self, spec: ConvNeXtSpec):
        super().__init__()
        first = spec.widths[0]
        self.stem = nn.Sequential(
            nn.Conv2d(spec.in_channels, first, 4, stride=4), LayerNorm2d(first)
        )
        stages, cin = [], first
        for i, (blocks, width) in enumerate(zip(spec.layers, spec.widths, strict=True)):
            down = [] if i == 0 else [LayerNorm2d(cin), nn.Conv2d(cin, width, 2, stride=2)]
            stages.append(nn.Sequential(*down, *[ConvNeXtBlock(width) for _ in range(blocks)]))
            cin = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.norm = nn.LayerNorm(cin)
        self.dropout = nn.Dropout(spec.dropout)
        self.classifier = nn.Linear(cin, spec.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled, normalised feature vector before the classifier."""
        return self.norm(self.pool(self.stages(self.stem(x))).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.forward_features(x)))


@register_model("convnext", ConvNeXtSpec)
def build_convnext(spec: ConvNeXtSpec) -> nn.Module:
    return ConvNeXt(spec)
