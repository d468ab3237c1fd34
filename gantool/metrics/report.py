"""The scores of gantool.metrics.evaluate as rows a person reads: (score, value, reading), every
number formatted by `number`, which never shows a negative zero (`-0.000`: a value that rounds to
zero is zero)."""

from __future__ import annotations

COLUMNS = [("score", "score", ""), ("value", "value", ""), ("reading", "reading", "")]


def number(x: float, fmt: str) -> str:
    """`format(x, fmt)`, without the sign of a value that the format rounds to zero."""
    text = format(x, fmt)
    if text.startswith("-") and not any(c in "123456789" for c in text.split("e")[0]):
        text = text[1:]
    return text


def score_rows(r: dict) -> list[dict]:
    """The table of one evaluation: {score, value, reading} rows."""
    rows = [("images", f"{r['n_fake']:,} generated, {r['n_real']:,} real", "FID is biased at small N"),
            ("FID", number(r["fid"], ".4g"), "lower is better"),
            ("KID", f"{number(r['kid_mean'], '.4g')} ± {number(r['kid_std'], '.2g')}",
             f"lower is better; subsets of {r['kid_subset_size']}"),
            ("precision", number(r["precision"], ".3f"), "generated on the real manifold"),
            ("recall", number(r["recall"], ".3f"), "real on the generated manifold"),
            ("density", number(r["density"], ".3f"), "about 1 for real-like samples"),
            ("coverage", number(r["coverage"], ".3f"), f"real covered by generated (k = {r['k']})")]
    if "inception_score" in r:
        rows.append(("inception score", f"{number(r['inception_score'], '.4g')} ± "
                                        f"{number(r['inception_score_std'], '.2g')}",
                     f"at most {len(r['classes'])}, higher is better"))
        rows.append(("class entropy", number(r["class_entropy"], ".3f"), "1 every class alike, 0 one class"))
        shown = " ".join(f"{c}:{h}" for c, h in zip(r["classes"], r["class_histogram"]) if h)
        rows.append(("classes", shown if len(shown) <= 80 else shown[:77] + "...", "samples read as each class"))
    if "requested_accuracy" in r:
        rows.append(("requested class", number(r["requested_accuracy"], ".2%"), "samples read as the class asked for"))
    return [{"score": a, "value": b, "reading": c} for a, b, c in rows]
