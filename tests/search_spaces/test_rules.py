"""The rules of a space, in the words a rejected candidate is logged with."""

from __future__ import annotations

from search_spaces.cifar_lt200k import SPACE
from search_spaces.rules import Rules, check, violations
from trainables.models.analysis import Analysis, analyze
from trainables.models.cifar_net import CifarNetSpec


def test_rules_name_what_is_broken():
    wide = CifarNetSpec(widths=(64, 96, 96, 96))
    _, reasons = check(wide, SPACE.rules)
    assert len(reasons) == 1 and reasons[0].endswith("params is not below 200,000")
    shallow = CifarNetSpec(widths=(16, 16), expansions=(32, 32), dilations=(1, 1))
    _, reasons = check(shallow, SPACE.rules)
    assert reasons == [f"receptive field {analyze(shallow).receptive_field} is not above 44"]
    pooled = Analysis(
        1000, 1, 50, (), dilated_convs=0, separable_convs=0, max_pools=2, global_pool=False
    )
    assert violations(pooled, SPACE.rules) == [
        "no dilated conv",
        "no depthwise-separable conv",
        "2 max-pooling layer(s)",
        "no global average pooling",
    ]
    assert violations(pooled, Rules()) == []
