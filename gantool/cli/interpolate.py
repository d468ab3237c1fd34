"""`gantool interpolate`: walks between latents, as a grid, an animation and new latents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gantool.cli import kit, search
from gantool.context import Env
from gantool.latent.settings import WalkSettings


@kit.command(settings={"settings": WalkSettings})
def interpolate(
    env: Env,
    settings: dict,
    latents_in: Annotated[str, typer.Argument(
        metavar="LATENTS", show_default=False,
        help="Latents (.npy, one row each, from any gantool command), or - for stdin (the default).")] = "-",
    model: kit.Model = None,
    class_: search.class_option("keep this class (index or name) on every frame (default: the class morphs too).") = None,
    output: kit.Output = None,
    animate: Annotated[Optional[Path], typer.Option(
        "--animate", show_default=False, metavar="FILE",
        help="Write the frames as an animated .gif or .webp (a path walks its joints once; a loop ends where it began).")] = None,
    latents: search.latents_option("the walk's latents", tail=", so the walk composes further") = None,
) -> None:
    """Walk between latents: slerp or lerp, between pairs or along one path, as a grid and an animation.

    The latents come from a file or stdin: `gantool sample -n 2 | gantool interpolate -o walk.png`.
    Every frame is drawn in a few batched generator calls. For conditional models the one-hot class
    morphs along with z, or stays on one class with --class.
    """
    from gantool.errors import BadValue
    from gantool.files.images import ANIMATION_FORMATS
    from gantool.files.reading import read_latents
    from gantool.gan.sampling import resolve_class
    from gantool.latent.outputs import Outputs
    from gantool.latent.walk import draw, walk
    from gantool.models import loader

    # ---- check ----
    model = kit.require_model(model)
    s = WalkSettings(**settings)
    s.validate()
    if animate is not None and animate.suffix.lower() not in ANIMATION_FORMATS:
        raise BadValue("animate", animate, "must end in .gif or .webp")
    latents = kit.check_outputs(env, [("-o", output, "a PNG image"), ("--animate", animate, "an animation"),
                                      ("--latents", latents, ".npy latents")], default="--latents",
                                hint="use -o walk.png, --animate walk.gif, --latents FILE or a pipe")["--latents"]
    info = loader.inspect(model, kinds=("gan",))
    cfg = info.config
    search.check_class(class_, model, info)
    pinned = resolve_class(class_, info.classes) if class_ is not None else None
    given = read_latents(env, latents_in, cfg.latent_dim)
    outputs = Outputs(env, grid=output, latents=latents, animation=animate)
    s.check_frames(len(given), images=outputs.images)

    # ---- work ----
    w = walk(given, s.steps, cfg.nz, cfg.num_classes, s.method, s.mode, s.loop, pinned)
    G, dev, norm = search.generator_for(env, model, outputs.images)
    draw(G, dev, norm, w, s.mode, s.loop, s.fps, outputs)
    env.log(f"walked {kit.plural(w.rows, 'row')} of {s.steps} frames ({s.method}, {s.mode}{', loop' if s.loop else ''})"
            + outputs.written())
    if env.options.json:
        kit.print_json(env, {"model": model, "rows": w.rows, "steps": s.steps, "frames": len(w.latents),
                             "method": s.method, "mode": s.mode, "loop": s.loop, "class": class_, "grid": output,
                             "animation": str(animate) if animate else None, "latents": latents})


# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("Two samples and the 8-frame slerp between them, a grid row.",
     "gantool sample -m run/model.safetensors -n 2 --seed 1 | gantool interpolate -m run/model.safetensors -o walk.png"),
    ("A looping animation through 5 samples, and its latents back to a grid by sample.",
     "gantool sample -n 5 | gantool interpolate --mode path --loop --steps 12 --animate loop.gif --latents - | "
     "gantool sample --latents-in - -o frames.png"),
    ("A conditional model: morph z between two sevens, the class held at 7.",
     "gantool sample -m cgan/model.safetensors --class 7 -n 2 | gantool interpolate -m cgan/model.safetensors "
     "--class 7 -o sevens.png"),
]
FILES = [("*.npy", "Latents: float32, one row per image, the generator's whole input."),
         ("*.gif, *.webp", "Animations written by --animate.")]
