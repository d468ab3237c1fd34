"""Counts and articles in messages, one way everywhere: `1 image`, `2 images`, `2 classes`, `an encoder`."""

from __future__ import annotations


_HARD_CH = {"epoch"}  # a "ch" said as k: "epochs", not "epoches"


def plural(n: int, word: str) -> str:
    """`1 image`, `2 images`, `1 row`, `1 class`, `2 classes` (thousands separated)."""
    if n == 1:
        return f"{n:,} {word}"
    sibilant = word.endswith(("s", "x", "ch", "sh")) and word not in _HARD_CH
    return f"{n:,} {word}es" if sibilant else f"{n:,} {word}s"


_AN = {"svm"}  # initialisms said with a vowel first: "an svm"


def article(word: str) -> str:
    """`a classifier`, `an encoder`, `an svm`."""
    return f"{'an' if word[:1].lower() in 'aeiou' or word.lower() in _AN else 'a'} {word}"
