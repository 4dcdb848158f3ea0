"""Bottleneck ResNets (v1.5: the stride sits on the 3x3 conv) with optional conv biases.

Depth is the number of blocks per stage, width the bottleneck width per stage; the block output
is ``expansion`` times wider. The ``seed`` preset is the HW2P2 reference network: ResNet-50
layout with biased block convolutions, 7000 classes at 224x224 (37,877,528 parameters). With
``conv_bias=False`` the family at (3, 4, 6, 3) and width 64 is torchvision's resnet50.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from trainables.models import register_model, stage_problems


@dataclass(frozen=True)
class ResNetSpec:
    layers: tuple[int, ...] = (3, 4, 6, 3)  # bottleneck blocks per stage
    widths: tuple[int, ...] = (64, 128, 256, 512)  # bottleneck (3x3) width per stage
    stem_width: int = 64  # the 7x7 stride-2 stem conv, before a 3x3 stride-2 max-pool
    expansion: int = 4  # block output = expansion * width
    conv_bias: bool = True  # biases on every block conv (the reference network has them)
    dropout: float = 0.0  # before the classifier
    num_classes: int = 7000
    in_channels: int = 3
    image_size: int = 224  # pixels per side (any size works: the pooling is adaptive)

    def problems(self) -> list[str]:
        # The stem and max-pool divide by 4, every stage after the first by 2 more.
        smallest = 2 ** (len(self.layers) + 1)
        return stage_problems(self.layers, self.widths, self.image_size, smallest)


class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, cout: int, stride: int, bias: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=bias)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=bias)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=bias), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        skip = x if self.downsample is None else self.downsample(x)
        return self.relu(out + skip)


class ResNet(nn.Module):
    def __init__(self, spec: ResNetSpec):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(spec.in_channels, spec.stem_width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(spec.stem_width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages, cin = [], spec.stem_width
        for i, (blocks, width) in enumerate(zip(spec.layers, spec.widths, strict=True)):
            cout = width * spec.expansion
            stage = []
            for b in range(blocks):
                stride = 2 if i > 0 and b == 0 else 1
                stage.append(Bottleneck(cin, width, cout, stride, spec.conv_bias))
                cin = cout
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(spec.dropout)
        self.classifier = nn.Linear(cin, spec.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled feature vector before the classifier (the verification embedding)."""
        return self.pool(self.stages(self.stem(x))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.forward_features(x)))


@register_model("resnet", ResNetSpec)
def build_resnet(spec: ResNetSpec) -> nn.Module:
    return ResNet(spec)
