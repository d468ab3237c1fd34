"""`gantool arithmetic`: latent arithmetic, `[0,1,2] - [3,4,5] + [6,7,8]`, drawn with its terms."""

from __future__ import annotations

from typing import Annotated

import typer

from gantool.cli import kit, search
from gantool.context import Env
from gantool.latent.settings import ArithmeticSettings


@kit.command(settings={"settings": ArithmeticSettings})
def arithmetic(
    env: Env,
    settings: dict,
    expr: Annotated[str, typer.Argument(
        metavar="EXPR", show_default=False,
        help="Rows of LATENTS joined by + and -: a number is one row, [0,1,2] the average of those rows.")],
    latents_in: Annotated[str, typer.Argument(
        metavar="LATENTS", show_default=False,
        help="Latents (.npy, one row each), or - for stdin (the default).")] = "-",
    model: kit.Model = None,
    class_: kit.ClassOption = None,
    output: kit.Output = None,
    latents: search.latents_option("the results' latents") = None,
) -> None:
    """Latent arithmetic: add and subtract latent rows, or averages of several, and draw the result.

    As in the DCGAN paper: "man with glasses - man without + woman without = woman with glasses",
    where each concept is the average of a few exemplars (single vectors are unstable, averages of
    three are stable). The grid (-o) shows one row per term, its exemplars then their average, and
    a last row with the result and its variants. The arithmetic applies to the whole latent row; for
    conditional models, --class puts one class on the results.
    """
    import numpy as np

    from gantool.errors import BadValue
    from gantool.files.images import MAX_GRID_IMAGES
    from gantool.files.reading import read_latents
    from gantool.gan.sampling import resolve_class
    from gantool.latent.arithmetic import describe, draw, evaluate, grid_shape, parse, variants
    from gantool.latent.outputs import Outputs
    from gantool.models import loader

    model = kit.require_model(model)
    s = ArithmeticSettings(**settings)
    s.validate()
    terms = parse(expr)
    rows, columns = grid_shape(terms, s.count)
    if output is not None and rows * columns > MAX_GRID_IMAGES:
        raise BadValue("expr", None, f"makes a grid of {rows} x {columns} images, more than {MAX_GRID_IMAGES:,}",
                       "use fewer or shorter terms, or only --latents")
    latents = kit.check_outputs(env, [("-o", output, "a PNG image"), ("--latents", latents, ".npy latents")],
                                default="--latents", hint="use -o result.png, --latents FILE or a pipe")["--latents"]
    info = loader.inspect(model, kinds=("gan",))
    cfg = info.config
    search.check_class(class_, model, info)
    given = read_latents(env, latents_in, cfg.latent_dim)
    result, means = evaluate(terms, given)
    results = variants(result, s.count, s.jitter, cfg.nz, np.random.default_rng(env.options.seed))
    if class_ is not None:
        results[:, cfg.nz:] = np.eye(cfg.num_classes, dtype=np.float32)[resolve_class(class_, info.classes)]

    outputs = Outputs(env, grid=output, latents=latents)
    draw(*search.generator_for(env, model, output is not None), terms, given, means, results, outputs)
    env.log(f"{describe(terms)} = {kit.plural(s.count, 'result')} (seed {env.options.seed}){outputs.written()}")
    if env.options.json:
        kit.print_json(env, {"model": model, "expr": expr, "terms": [{"sign": t.sign, "rows": list(t.rows)} for t in terms],
                             "count": s.count, "jitter": s.jitter, "seed": env.options.seed, "grid": output,
                             "latents": latents})


# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("Rows 0-2 minus rows 3-5 plus rows 6-8 of pick.npy (each the average of three), with 7 variants: one row "
     "per term, then the results. pick.npy and pick.png from `gantool sample -n 24 -o pick.png --latents pick.npy`.",
     "gantool arithmetic '[0,1,2] - [3,4,5] + [6,7,8]' pick.npy -m run/model.safetensors -n 8 -o result.png"),
    ("The results' latents, walked from the first to the second.",
     "gantool arithmetic '0 - 1 + 2' pick.npy -n 2 --latents - | gantool interpolate -o walk.png"),
]
FILES = [("*.npy", "Latents: float32, one row per image, the generator's whole input.")]
