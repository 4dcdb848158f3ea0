from __future__ import annotations

from torch import fx, nn

from trainables.models import create_model
from trainables.models.analysis import analyze, receptive_field
from trainables.models.cifar_net import CifarNetSpec


def rf_of(model: nn.Module) -> int:
    return receptive_field(fx.symbolic_trace(model).graph, dict(model.named_modules()))


def test_seed_receptive_field_matches_hand_computation():
    # The widest path: stem, the two 1x1 stride-2 skips (jump 1 -> 2 -> 4), then the third
    # block (dilated branch d=2, depthwise 3x3, transition dilation 8/4 = 2 with no stride) and
    # the last block (dilated branch d=2, depthwise 3x3). A layer adds (k - 1) * d * jump.
    stem = 2 * 1 * 1
    block3 = 2 * 2 * 4 + 2 * 1 * 4 + 2 * 2 * 4
    block4 = 2 * 2 * 4 + 2 * 1 * 4
    assert analyze(CifarNetSpec()).receptive_field == 1 + stem + block3 + block4 == 67


def test_receptive_field_of_plain_stacks():
    three_convs = nn.Sequential(*[nn.Conv2d(3, 3, 3, padding=1) for _ in range(3)])
    assert rf_of(three_convs) == 7
    strided = nn.Sequential(nn.Conv2d(3, 3, 3, stride=2), nn.Conv2d(3, 3, 3), nn.MaxPool2d(2))
    assert rf_of(strided) == 1 + 2 + 2 * 2 + 1 * 2  # jumps 1, 2, 2
    dilated = nn.Sequential(nn.Conv2d(3, 3, 3, dilation=4), nn.Conv2d(3, 3, 5, padding=2))
    assert rf_of(dilated) == 1 + 8 + 4


def test_analysis_matches_the_real_module():
    spec = CifarNetSpec(widths=(24, 48, 48), expansions=(64, 96, 96), dilations=(1, 2, 3))
    analysis = analyze(spec)
    assert analysis.params == sum(p.numel() for p in create_model(spec).parameters())
    stem = analysis.layers[0]
    assert (stem.name, stem.kind, stem.output_shape, stem.params) == (
        "stem.0",
        "Conv2d",
        (16, 32, 32),
        432,
    )
    assert analysis.macs > 0 and analysis.dilated_convs == 2 + 2 and analysis.separable_convs == 3


def test_seed_macs_hand_computed():
    # Weights of each conv (no biases) times its output pixels.
    stem = 432 * 32 * 32
    block1 = (4608 + 4608 + 288 + 4096 + 4096) * 32 * 32 + (9216 + 512) * 16 * 16
    inner = 18432 + 18432 + 576 + 8192  # plain, dilated, depthwise, pointwise of blocks 2-4
    block2 = (inner + 4096) * 16 * 16 + (9216 + 1024) * 8 * 8
    block3 = (inner + 4096) * 8 * 8 + (9216 + 1024) * 4 * 4
    block4 = inner * 4 * 4
    classifier = 1280
    expected = stem + block1 + block2 + block3 + block4 + classifier
    assert analyze(CifarNetSpec()).macs == expected == 38_516_992
