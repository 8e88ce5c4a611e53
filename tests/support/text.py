"""Comparing text read by OCR with the text a document was made from."""

from __future__ import annotations

from rapidfuzz.distance import Levenshtein


def normalise(text: str) -> str:
    return " ".join(text.split())


def cer(read: str, truth: str) -> float:
    """Character error rate: edit distance over the length of the truth."""
    reference = normalise(truth)
    return Levenshtein.distance(normalise(read), reference) / max(1, len(reference))
