"""Face verification: label each unknown image with the known identity it resembles most.

Images are embedded with the network's feature layer (the pooled vector before the classifier)
and compared by cosine similarity; the score is the accuracy against the true identities.

The protocol follows the data: where ``dev_identities.csv`` labels some unknown images
``n000000`` and the gallery has no such identity (HW2P2 from Fall 2023 on), an unknown may be of
no one in the gallery: it is labelled ``n000000`` when its best similarity is below a threshold,
the one that scores best on the labelled set (``open_set_threshold``). Otherwise every unknown is
of a known identity (Fall 2022, the shared Olivetti layout).

Where the data lists pairs of images instead (``val_pairs.txt``, Spring 2024 on), each pair's
cosine similarity says how likely the two are one person: scored by the ROC AUC and the equal
error rate (``pair_scores``), with ``verify_acc`` = 1 - EER, the balanced accuracy at the
threshold where false accepts and false rejects are equally frequent.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

NO_ONE = "n000000"  # an unknown face of none of the gallery's identities (open-set layouts)


def best_match(
    unknown: torch.Tensor, known: torch.Tensor, chunk: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """Index and cosine similarity of the most similar known embedding, per unknown embedding.

    Computed where the embeddings are (the GPU in a trial), ``chunk`` x ``chunk`` similarities
    at a time with a running best: memory stays linear in the gallery and the unknown set, never
    their product (35,000 x 7,000 similarities would be 1 GB). Ties go to the first gallery
    image, as ``argmax`` of the whole matrix does.
    """
    known = F.normalize(known.float(), dim=1)
    indices, values = [], []
    for u in F.normalize(unknown.float(), dim=1).split(chunk):
        best = torch.full((len(u),), -torch.inf, device=u.device)
        index = torch.zeros(len(u), dtype=torch.long, device=u.device)
        for start in range(0, len(known), chunk):
            value, where = (u @ known[start : start + chunk].T).max(dim=1)
            better = value > best
            best = torch.where(better, value, best)
            index = torch.where(better, where + start, index)
        indices.append(index)
        values.append(best)
    return torch.cat(indices).cpu(), torch.cat(values).cpu()


def match(unknown: torch.Tensor, known: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Index of the most cosine-similar known embedding for every unknown embedding."""
    return best_match(unknown, known, chunk)[0]


def is_open_set(known_labels: Sequence[str], truth: Sequence[str]) -> bool:
    """Whether some unknowns are of no one in the gallery (labelled ``NO_ONE``)."""
    return NO_ONE in truth and NO_ONE not in known_labels


def identify(
    unknown: torch.Tensor,
    known: torch.Tensor,
    known_labels: Sequence[str],
    threshold: float | None = None,
) -> list[str]:
    """The identity of each unknown; ``NO_ONE`` where its best similarity is below
    ``threshold`` (open-set layouts)."""
    index, similarity = best_match(unknown, known)
    labels = [known_labels[i] for i in index.tolist()]
    if threshold is None:
        return labels
    below = (similarity < threshold).tolist()
    return [NO_ONE if b else x for x, b in zip(labels, below, strict=True)]


def open_set_threshold(
    similarity: torch.Tensor, correct: torch.Tensor, no_one: torch.Tensor
) -> tuple[float, float]:
    """The similarity threshold that labels a set best, and its accuracy.

    ``similarity``: each unknown's best similarity; ``correct``: whether its best match is its
    identity; ``no_one``: whether it is of no one in the gallery. At a threshold, the unknowns at
    or above it take their best match and those below it ``NO_ONE``. Tried at every similarity
    (the unknowns sorted once) and above them all (every unknown ``NO_ONE``).
    """
    order = torch.argsort(similarity, descending=True)
    s, c, z = similarity[order], correct[order].float(), no_one[order].float()
    # Threshold at s[k]: the first k + 1 take their match, the rest are no one.
    hits = torch.cumsum(c, 0) + (z.sum() - torch.cumsum(z, 0))
    k = int(torch.argmax(hits))
    if z.sum() > hits[k]:  # better to call every unknown no one
        return float("inf"), float(z.mean())
    return float(s[k]), float(hits[k] / len(s))


def verification_scores(
    unknown: torch.Tensor, known: torch.Tensor, known_labels: Sequence[str], truth: Sequence[str]
) -> dict[str, float]:
    """``verify_acc``, the fraction of unknown images labelled with their identity; in an
    open-set layout at the best threshold, reported as ``verify_threshold`` too."""
    index, similarity = best_match(unknown, known)
    predicted = [known_labels[i] for i in index.tolist()]
    correct = torch.tensor([p == t for p, t in zip(predicted, truth, strict=True)])
    if not is_open_set(known_labels, truth):
        return {"verify_acc": float(correct.float().mean())}
    no_one = torch.tensor([t == NO_ONE for t in truth])
    threshold, accuracy = open_set_threshold(similarity, correct, no_one)
    return {"verify_acc": accuracy, "verify_threshold": threshold}


def pair_scores(similarity: torch.Tensor, same: torch.Tensor) -> dict[str, float]:
    """ROC AUC, equal error rate and ``verify_acc`` (1 - EER) of pair similarities against
    whether each pair is one person.

    AUC: the chance that a same-person pair scores above a different-person pair (ties count
    half). EER: where the false accept rate (different pairs at or above a threshold) meets the
    false reject rate (same pairs below it), over every threshold at a similarity in the data;
    the mean of the two where they cross between two thresholds.
    """
    similarity, same = similarity.double().cpu(), same.bool().cpu()
    positives, negatives = int(same.sum()), int((~same).sum())
    if not positives or not negatives:
        raise ValueError("pair scores need same-person and different-person pairs")
    ranks = _average_ranks(similarity)
    auc = (ranks[same].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    order = torch.argsort(similarity, descending=True)
    s, y = similarity[order], same[order].double()
    # Accepting the first k + 1 pairs: only where the next similarity is lower (a tie group is
    # accepted whole), and accepting none at all.
    last = torch.cat([s[1:] < s[:-1], torch.tensor([True])])
    far = torch.cat([torch.zeros(1), (torch.cumsum(1 - y, 0) / negatives)[last]])
    frr = torch.cat([torch.ones(1), (1 - torch.cumsum(y, 0) / positives)[last]])
    k = int(torch.argmin((far - frr).abs()))
    eer = float((far[k] + frr[k]) / 2)
    return {"verify_acc": 1 - eer, "verify_auc": float(auc), "verify_eer": eer}


def _average_ranks(values: torch.Tensor) -> torch.Tensor:
    """1-based ranks in ascending order, tied values sharing their mean rank."""
    unique, inverse, counts = torch.unique(values, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    return (ends - (counts.double() - 1) / 2)[inverse]
