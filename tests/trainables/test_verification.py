"""Verification: each unknown face takes the identity of its most similar gallery face."""

from __future__ import annotations

import torch

from trainables.verification import verification_accuracy


def test_verification_on_a_hand_made_case():
    known = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    labels = ["alice", "bob", "carol"]
    # Cosine similarity ignores length: (5, 1) is alice, (0.1, 3) bob, (-2, -0.1) carol.
    unknown = torch.tensor([[5.0, 1.0], [0.1, 3.0], [-2.0, -0.1], [0.2, 2.0]])
    assert verification_accuracy(unknown, known, labels, ["alice", "bob", "carol", "bob"]) == 1.0
    assert verification_accuracy(unknown, known, labels, ["alice", "bob", "bob", "alice"]) == 0.5
