"""Latent arithmetic (Radford et al. 2015, section 6.3): expressions over latent rows such as
`[0,1,2] - [3,4,5] + [6,7,8]`, where a bracketed list is the average of its rows (the DCGAN paper
found single vectors unstable and averages of three stable) and a bare number is one row."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from gantool.words import plural
from gantool.errors import BadValue

_TOKEN = re.compile(r"\s*(?:(\[[^\]]*\])|(\d+)|([+-]))")
MAX_TERMS = 64  # terms of one expression (a grid row each)
MAX_TERM_ROWS = 1024  # rows averaged in one term


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
            if len(items) > MAX_TERM_ROWS:
                raise BadValue("expr", f"{text[:40]!r}...", f"averages {len(items):,} rows in one term",
                               f"at most {MAX_TERM_ROWS:,}")
            terms.append(Term(sign, tuple(int(i) for i in items)))
            if len(terms) > MAX_TERMS:
                raise BadValue("expr", f"{text[:40]!r}...", f"has more than {MAX_TERMS} terms", f"at most {MAX_TERMS}")
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
            raise BadValue("expr", None, f"names row {bad[0]}, but the latents have {plural(n, 'row')} "
                                         f"(0..{n - 1})")
    means = np.stack([latents[list(t.rows)].astype(np.float64).mean(0) for t in terms])
    signs = np.array([t.sign for t in terms])[:, None]
    return (signs * means).sum(0), means


def variants(result: np.ndarray, count: int, jitter: float, nz: int, rng: np.random.Generator) -> np.ndarray:
    """`count` rows: the result, then copies with N(0, jitter^2) noise on the z part (the class part stays)."""
    if not (np.isfinite(jitter) and jitter >= 0):
        raise BadValue("jitter", jitter, "must be a finite number, at least 0")
    out = np.repeat(result[None], count, axis=0)
    if count > 1 and jitter > 0:
        out[1:, :nz] += rng.normal(0.0, jitter, size=(count - 1, nz))
    return out.astype(np.float32)


def describe(terms: list[Term]) -> str:
    """The expression as parsed: `[0,1,2] - [3,4,5] + 6`."""
    return " ".join(("-" if t.sign < 0 else "+") + (f" [{','.join(map(str, t.rows))}]" if len(t.rows) > 1
                                                     else f" {t.rows[0]}") for t in terms).lstrip("+ ")


def grid_shape(terms: list[Term], count: int) -> tuple[int, int]:
    """(rows, columns) of the grid: a row per term (its exemplars, then their average when there
    are several), and a last row of the `count` results."""
    return len(terms) + 1, max(max(len(t.rows) + (len(t.rows) > 1) for t in terms), count)


def draw(G, device, normalization, terms: list[Term], latents: np.ndarray, means: np.ndarray,
         results: np.ndarray, outputs) -> None:
    """The results' latents, and the grid of gantool.latent.outputs.Outputs: each term's row
    and the results' row, padded to the grid's width with black."""
    import torch

    from gantool.gan.sampling import generate

    outputs.write_latents(results)
    if G is None or outputs.grid is None:
        return
    _, width = grid_shape(terms, len(results))
    rows = [[latents[r] for r in t.rows] + ([mean.astype(np.float32)] if len(t.rows) > 1 else [])
            for t, mean in zip(terms, means)] + [list(results)]
    images = generate(G, torch.from_numpy(np.stack([v for row in rows for v in row])), device, normalization)
    blank = torch.zeros_like(images[:1])
    laid, i = [], 0
    for row in rows:
        laid += [images[i:i + len(row)], blank.expand(width - len(row), *blank.shape[1:])]
        i += len(row)
    outputs.write_grid(torch.cat(laid), width)
