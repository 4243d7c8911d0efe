"""Word counting."""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def count_words(text: str) -> Counter[str]:
    """Count the words of ``text``, ignoring case; digits and punctuation split them."""
    return Counter(match.group().lower() for match in _WORD.finditer(text))


def top_words(text: str, limit: int) -> list[tuple[str, int]]:
    """Return the ``limit`` most frequent words, ties broken alphabetically."""
    if limit < 0:
        raise ValueError(f"limit must be 0 or more, got {limit}")
    counts = count_words(text)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:limit]
