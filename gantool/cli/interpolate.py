"""`gantool interpolate`: walks between latents, as a grid, an animation and new latents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from gantool.cli import kit
from gantool.context import Env
from gantool.latent import METHODS, MODES

Method = Literal[METHODS]
Mode = Literal[MODES]


@kit.command()
def interpolate(
    env: Env,
    latents_in: Annotated[str, typer.Argument(
        metavar="LATENTS", show_default=False,
        help="Latents (.npy, one row each, from any gantool command), or - for stdin (the default).")] = "-",
    model: kit.Model = None,
    steps: Annotated[int, typer.Option(
        "--steps", "-s", min=2, show_default=False,
        help="Frames from one latent to the next, both ends included (default 8).")] = 8,
    method: Annotated[Method, typer.Option(
        "--method", show_default=False,
        help="slerp (default: the path stays where Gaussian z lives) or lerp (a straight line).")] = "slerp",
    mode: Annotated[Mode, typer.Option(
        "--mode", show_default=False,
        help="pairs (default): rows 0->1, 2->3, ..., a grid row each; path: one walk 0->1->2->... through all rows.")] = "pairs",
    loop: Annotated[bool, typer.Option(
        "--loop", show_default=False, help="Close the path back to its first row (with --mode path).")] = False,
    class_: Annotated[Optional[str], typer.Option(
        "--class", "-c", show_default=False, metavar="CLASS",
        help="Conditional models: keep this class (index or name) on every frame (default: the class morphs too).")] = None,
    output: kit.Output = None,
    animate: Annotated[Optional[Path], typer.Option(
        "--animate", show_default=False, metavar="FILE",
        help="Write the frames as an animated .gif or .webp (a path walks its joints once; a loop ends where it began).")] = None,
    fps: Annotated[float, typer.Option("--fps", min=0.1, max=100, show_default=False,
                                       help="Frames per second of --animate (default 12).")] = 12.0,
    latents: Annotated[Optional[str], typer.Option(
        "--latents", show_default=False, metavar="FILE",
        help="Write the walk's latents as .npy (- for stdout; the default when stdout is a pipe and no output is "
             "named), so the walk composes further.")] = None,
) -> None:
    """Walk between latents: slerp or lerp, between pairs or along one path, as a grid and an animation.

    The latents come from a file or stdin: `gantool sample -n 2 | gantool interpolate -o walk.png`.
    Every frame is drawn in a few batched generator calls. For conditional models the one-hot class
    morphs along with z, or stays on one class with --class.
    """
    from gantool.errors import BadValue, UsageError
    from gantool.files.images import ANIMATION_FORMATS, MAX_GRID_IMAGES
    from gantool.files.reading import read_latents
    from gantool.files.writing import STDIO
    from gantool.gan.sampling import resolve_class
    from gantool.latent.walk import walk
    from gantool.models import loader

    # ---- check ----
    model = kit.require_model(model)
    if loop and mode != "path":
        raise UsageError("--loop closes a path", "add --mode path")
    if animate is not None and animate.suffix.lower() not in ANIMATION_FORMATS:
        raise BadValue("animate", animate, "must end in .gif or .webp")
    latents = kit.check_outputs(env, [("-o", output, "a PNG image"), ("--animate", animate, "an animation"),
                                      ("--latents", latents, ".npy latents")], default="--latents",
                                hint="use -o walk.png, --animate walk.gif, --latents FILE or a pipe")["--latents"]
    info = loader.inspect(model, kinds=("gan",))
    cfg = info.config
    if class_ is not None and not cfg.conditional:
        raise BadValue("class", class_, f"{model} is unconditional: it has no classes")
    pinned = resolve_class(class_, info.classes) if class_ is not None else None
    given = read_latents(env, latents_in, cfg.latent_dim)
    w = walk(given, steps, cfg.nz, cfg.num_classes, method, mode, loop, pinned)
    if output is not None and len(w.latents) > MAX_GRID_IMAGES:
        raise UsageError(f"a grid of {len(w.latents):,} frames is too large to look at (at most {MAX_GRID_IMAGES:,})",
                         "use fewer --steps or rows, or only --animate")

    # ---- work ----
    _draw(env, model, w, mode, loop, output, animate, fps, latents)
    written = [str(p) for p in (output, animate, latents) if p is not None and p != STDIO]
    env.log(f"walked {kit.plural(w.rows, 'row')} of {steps} frames ({method}, {mode}{', loop' if loop else ''})"
            + (f": {', '.join(written)}" if written else ""))
    if env.options.json:
        kit.print_json(env, {"model": model, "rows": w.rows, "steps": steps, "frames": len(w.latents),
                             "method": method, "mode": mode, "loop": loop, "class": class_, "grid": output,
                             "animation": str(animate) if animate else None, "latents": latents})


def _draw(env, model, w, mode, loop, output, animate, fps, latents) -> None:
    import torch

    from gantool.files.images import ANIMATION_FORMATS, animation_bytes, grid_png
    from gantool.files.writing import atomic_write, write_latents, write_output
    from gantool.gan.sampling import array_chunks, generate
    from gantool.latent.walk import frames

    if latents is not None:
        write_latents(env, latents, w.latents)
    if output is None and animate is None:
        return
    dev, loaded = kit.load_generator(env, model)
    images = torch.cat([generate(loaded["generator"], z, dev, loaded.normalization) for z in array_chunks(w.latents)])
    if output is not None:
        write_output(env, output, grid_png(images, w.steps), "a PNG image", "-o")
    if animate is not None:
        order = torch.from_numpy(frames(w, mode, loop))
        atomic_write(animate, animation_bytes(images[order], ANIMATION_FORMATS[animate.suffix.lower()], fps))


# For the man page (gantool.cli.docgen): (what it does, command line).
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
