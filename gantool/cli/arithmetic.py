"""`gantool arithmetic`: latent arithmetic, `[0,1,2] - [3,4,5] + [6,7,8]`, drawn with its terms."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gantool.cli import kit
from gantool.context import Env


@kit.command()
def arithmetic(
    env: Env,
    expr: Annotated[str, typer.Argument(
        metavar="EXPR", show_default=False,
        help="Rows of LATENTS joined by + and -: a number is one row, [a,b,c] the average of several.")],
    latents_in: Annotated[str, typer.Argument(
        metavar="LATENTS", show_default=False,
        help="Latents (.npy, one row each), or - for stdin (the default).")] = "-",
    model: kit.Model = None,
    count: Annotated[int, typer.Option(
        "-n", "--count", min=1, max=256, show_default=False,
        help="How many results: the exact one, then variants with --jitter noise on z (default 1).")] = 1,
    jitter: Annotated[float, typer.Option(
        "--jitter", min=0, show_default=False,
        help="Standard deviation of the noise added to z for the variants (default 0.25).")] = 0.25,
    class_: kit.ClassOption = None,
    output: kit.Output = None,
    latents: Annotated[Optional[str], typer.Option(
        "--latents", show_default=False, metavar="FILE",
        help="Write the results' latents as .npy (- for stdout; the default when stdout is a pipe and no output "
             "is named).")] = None,
) -> None:
    """Latent arithmetic: add and subtract latent rows, or averages of several, and draw the result.

    As in the DCGAN paper: "man with glasses - man without + woman without = woman with glasses",
    where each concept is the average of a few exemplars (single vectors are unstable, averages of
    three are stable). The grid (-o) shows one row per term, its exemplars then their average, and
    a last row with the result and its variants. The arithmetic applies to the whole latent row; for
    conditional models, --class puts one class on the results.
    """
    import numpy as np
    import secrets

    from gantool.errors import BadValue
    from gantool.files.reading import read_latents
    from gantool.files.writing import STDIO
    from gantool.gan.sampling import resolve_class
    from gantool.latent.arithmetic import evaluate, parse, variants
    from gantool.models import loader

    model = kit.require_model(model)
    terms = parse(expr)
    latents = kit.check_outputs(env, [("-o", output, "a PNG image"), ("--latents", latents, ".npy latents")],
                                default="--latents", hint="use -o result.png, --latents FILE or a pipe")["--latents"]
    info = loader.inspect(model, kinds=("gan",))
    cfg = info.config
    if class_ is not None and not cfg.conditional:
        raise BadValue("class", class_, f"{model} is unconditional: it has no classes")
    given = read_latents(env, latents_in, cfg.latent_dim)
    result, means = evaluate(terms, given)
    seed = env.options.seed if env.options.seed is not None else secrets.randbelow(2**31)
    results = variants(result, count, jitter, cfg.nz, np.random.default_rng(seed))
    if class_ is not None:
        results[:, cfg.nz:] = np.eye(cfg.num_classes, dtype=np.float32)[resolve_class(class_, info.classes)]

    _draw(env, model, terms, given, means, results, output, latents)
    shown = " ".join(("-" if t.sign < 0 else "+") + (f" [{','.join(map(str, t.rows))}]" if len(t.rows) > 1
                                                      else f" {t.rows[0]}") for t in terms).lstrip("+ ")
    written = [str(p) for p in (output, latents) if p is not None and p != STDIO]
    env.log(f"{shown} = {kit.plural(count, 'result')} (seed {seed})" + (f": {', '.join(written)}" if written else ""))
    if env.options.json:
        kit.print_json(env, {"model": model, "expr": expr, "terms": [{"sign": t.sign, "rows": list(t.rows)} for t in terms],
                             "count": count, "jitter": jitter, "seed": seed, "grid": output, "latents": latents})


def _draw(env, model, terms, given, means, results, output, latents) -> None:
    import numpy as np
    import torch

    from gantool.files.images import grid_png
    from gantool.files.writing import write_latents, write_output
    from gantool.gan.sampling import generate

    if latents is not None:
        write_latents(env, latents, results)
    if output is None:
        return
    dev, loaded = kit.load_generator(env, model)
    width = max(max(len(t.rows) + (len(t.rows) > 1) for t in terms), len(results))
    rows = []
    for t, mean in zip(terms, means):  # exemplars, then their average when there are several
        row = [given[r] for r in t.rows] + ([mean.astype(np.float32)] if len(t.rows) > 1 else [])
        rows.append((row, len(row)))
    rows.append((list(results), len(results)))
    z = np.stack([v for row, _ in rows for v in row])
    images = generate(loaded["generator"], torch.from_numpy(z), dev, loaded.normalization)
    blank = torch.zeros_like(images[:1])
    laid, i = [], 0
    for _, n in rows:  # each row padded to the grid's width with black
        laid += [images[i:i + n], blank.expand(width - n, *blank.shape[1:])]
        i += n
    write_output(env, output, grid_png(torch.cat(laid), width), "a PNG image", "-o")


# For the man page (gantool.cli.docgen): (what it does, command line).
EXAMPLES = [
    ("Rows 0-2 minus rows 3-5 plus rows 6-8 of pick.npy (each the average of three), with 7 variants: one row "
     "per term, then the results. pick.npy and pick.png from `gantool sample -n 24 -o pick.png --latents pick.npy`.",
     "gantool arithmetic '[0,1,2] - [3,4,5] + [6,7,8]' pick.npy -m run/model.safetensors -n 8 -o result.png"),
    ("The results' latents, walked from the first to the second.",
     "gantool arithmetic '0 - 1 + 2' pick.npy -n 2 --latents - | gantool interpolate -o walk.png"),
]
FILES = [("*.npy", "Latents: float32, one row per image, the generator's whole input.")]
