"""The rules a candidate architecture must meet before it is allowed to train."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trainables.models.analysis import Analysis, analyze


@dataclass(frozen=True)
class Rules:
    params_below: int | None = None  # parameters must be strictly fewer
    receptive_field_above: int | None = None  # pixels; the field must be strictly larger
    require_dilated: bool = False
    require_separable: bool = False  # at least one depthwise-separable conv
    forbid_max_pool: bool = False
    require_global_pool: bool = False

    def describe(self) -> str:
        parts = []
        if self.params_below is not None:
            parts.append(f"params < {self.params_below:,}")
        if self.receptive_field_above is not None:
            parts.append(f"receptive field > {self.receptive_field_above}")
        parts += [
            text
            for flag, text in [
                (self.require_dilated, "a dilated conv"),
                (self.require_separable, "a depthwise-separable conv"),
                (self.forbid_max_pool, "no max-pooling"),
                (self.require_global_pool, "global average pooling"),
            ]
            if flag
        ]
        return ", ".join(parts) or "none"


def violations(analysis: Analysis, rules: Rules) -> list[str]:
    """One short sentence per rule the analysed architecture breaks."""
    found = []
    if rules.params_below is not None and analysis.params >= rules.params_below:
        found.append(f"{analysis.params:,} params is not below {rules.params_below:,}")
    if (
        rules.receptive_field_above is not None
        and analysis.receptive_field <= rules.receptive_field_above
    ):
        found.append(
            f"receptive field {analysis.receptive_field} is not above "
            f"{rules.receptive_field_above}"
        )
    if rules.require_dilated and not analysis.dilated_convs:
        found.append("no dilated conv")
    if rules.require_separable and not analysis.separable_convs:
        found.append("no depthwise-separable conv")
    if rules.forbid_max_pool and analysis.max_pools:
        found.append(f"{analysis.max_pools} max-pooling layer(s)")
    if rules.require_global_pool and not analysis.global_pool:
        found.append("no global average pooling")
    return found


def check(
    spec: Any, rules: Rules, analyzer: Callable[[Any], Analysis] = analyze
) -> tuple[Analysis | None, list[str]]:
    """Analyse ``spec`` and list what stops it from training (no analysis if unbuildable).

    ``analyzer``: the space's (a space whose specs are not networks of ``trainables.models``,
    such as a tabular benchmark's cells, brings its own).
    """
    problems = spec.problems()
    if problems:
        return None, problems
    analysis = analyzer(spec)
    return analysis, violations(analysis, rules)
