"""Latent arithmetic (Radford et al. 2015, section 6.3): expressions over latent rows such as
`[0,1,2] - [3,4,5] + [6,7,8]`, where a bracketed list is the average of its rows (the DCGAN paper
found single vectors unstable and averages of three stable) and a bare number is one row."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from gantool.errors import BadValue

_TOKEN = re.compile(r"\s*(?:(\[[^\]]*\])|(\d+)|([+-]))")


@dataclass(frozen=True)
class Term:
    sign: float  # +1 or -1
    rows: tuple[int, ...]  # averaged


def parse(expr: str) -> list[Term]:
    """`0 - 1 + 2`, `[0,1,2] - [3,4,5] + [6,7,8]` -> terms; BadValue (field `expr`) when it does not parse."""
    terms, sign, pos, expect_term = [], 1.0, 0, True
    text = expr.strip()
    if not text:
        raise BadValue("expr", repr(expr), "is empty", "e.g. '[0,1,2] - [3,4,5] + [6,7,8]'")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise BadValue("expr", repr(expr), f"cannot read it at {text[pos:]!r}",
                           "terms are row numbers or [averaged, rows], joined by + and -")
        group, number, op = m.groups()
        if op:
            if expect_term and terms:
                raise BadValue("expr", repr(expr), f"two operators in a row at {text[m.start():].strip()!r}")
            if expect_term:  # a leading sign
                sign = -sign if op == "-" else sign
            else:
                sign, expect_term = (1.0 if op == "+" else -1.0), True
        else:
            if not expect_term:
                raise BadValue("expr", repr(expr), f"a + or - is missing before {text[m.start():].strip()!r}")
            items = group[1:-1].replace(",", " ").split() if group else [number]
            if not items or not all(i.isdigit() for i in items):
                raise BadValue("expr", repr(expr), f"{group or number} is not a row number or a list of them")
            terms.append(Term(sign, tuple(int(i) for i in items)))
            sign, expect_term = 1.0, False
        pos = m.end()
    if expect_term:
        raise BadValue("expr", repr(expr), "ends with an operator")
    return terms


def evaluate(terms: list[Term], latents: np.ndarray) -> np.ndarray:
    """The expression's latent row (D,), and each term's average (T, D)."""
    n = len(latents)
    for t in terms:
        bad = [r for r in t.rows if r >= n]
        if bad:
            raise BadValue("expr", None, f"names row {bad[0]}, but the latents have {n} row{'s' if n != 1 else ''} "
                                         f"(0..{n - 1})")
    means = np.stack([latents[list(t.rows)].astype(np.float64).mean(0) for t in terms])
    signs = np.array([t.sign for t in terms])[:, None]
    return (signs * means).sum(0), means


def variants(result: np.ndarray, count: int, jitter: float, nz: int, rng: np.random.Generator) -> np.ndarray:
    """`count` rows: the result, then copies with N(0, jitter^2) noise on the z part (the class part stays)."""
    out = np.repeat(result[None], count, axis=0)
    if count > 1 and jitter > 0:
        out[1:, :nz] += rng.normal(0.0, jitter, size=(count - 1, nz))
    return out.astype(np.float32)
