"""Face verification: label each unknown image with the known identity it resembles most.

Images are embedded with the network's feature layer (the pooled vector before the classifier)
and compared by cosine similarity; the score is the accuracy against the true identities.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def match(unknown: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Index of the most cosine-similar known embedding for every unknown embedding."""
    similarity = F.normalize(unknown.float(), dim=1) @ F.normalize(known.float(), dim=1).T
    return similarity.argmax(dim=1)


def identify(unknown: torch.Tensor, known: torch.Tensor, known_labels: Sequence[str]) -> list[str]:
    return [known_labels[i] for i in match(unknown, known).tolist()]


def verification_accuracy(
    unknown: torch.Tensor, known: torch.Tensor, known_labels: Sequence[str], truth: Sequence[str]
) -> float:
    """Fraction of unknown images labelled with their true identity."""
    predicted = identify(unknown, known, known_labels)
    return sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth)
