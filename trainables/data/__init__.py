"""Data readers and augmentation for the search spaces' data sets."""

from __future__ import annotations


class DataError(Exception):
    """Data a user pointed us at is missing or malformed; the message says what to do."""
