"""`gantool sample`: images and their latents from a trained generator, or the images of given latents."""

from __future__ import annotations

from gantool.cli import kit, search
from gantool.context import Env
from gantool.latent.settings import SampleSettings


@kit.command(settings={"settings": SampleSettings})
def sample(
    env: Env,
    settings: dict,
    model: kit.Model = None,
    output: kit.Output = None,
    out_dir: search.out_dir_option("Write one PNG per image into this folder.") = None,
    latents: search.latents_option("the latents", "the default when stdout is a pipe") = None,
    latents_in: kit.LatentsIn = None,
    class_: kit.ClassOption = None,
) -> None:
    """Draw images from a trained generator: a PNG grid, one PNG per image, and their latents.

    A latent row is the generator's whole input (z, then the one-hot class for conditional
    models), so a command reading the latents needs nothing else, and --latents-in draws the
    images of latents from any gantool command. The same --seed gives the same latents and images.
    Any -n is drawn in chunks, in bounded memory, with progress on stderr.
    """
    from gantool.errors import UsageError
    from gantool.files.images import MAX_GRID_IMAGES
    from gantool.files.reading import read_latents
    from gantool.files.writing import STDIO
    from gantool.gan.sampling import CHUNK, draw, plan
    from gantool.latent.outputs import Outputs
    from gantool.models import loader
    from gantool.progress import NullProgress, make_progress

    # ---- check: options, outputs, the model's header; nothing is computed or written yet ----
    model = kit.require_model(model)
    if latents_in is not None and ("count" in settings or class_ is not None):
        raise UsageError(f"--latents-in draws the latents it is given; {'-n' if 'count' in settings else '--class'} "
                         "cannot be used with it")
    s = SampleSettings(**settings)
    s.validate()
    latents = kit.check_outputs(env, [("-o", output, "a PNG image"), ("--out-dir", out_dir, "folder"),
                                      ("--latents", latents, ".npy latents")], default="--latents",
                                hint="use -o grid.png, --out-dir DIR, --latents FILE or a pipe")["--latents"]
    info = loader.inspect(model, kinds=("gan",))
    search.check_class(class_, model, info)
    given = read_latents(env, latents_in, info.config.latent_dim) if latents_in is not None else None
    p = plan(info.config, info.classes, s.count, s.nrow, class_, given)
    if output is not None and p.total > MAX_GRID_IMAGES:
        raise UsageError(f"a grid of {p.total:,} images is too large to look at (at most {MAX_GRID_IMAGES:,})",
                         "draw fewer, or use --out-dir for one PNG each and --latents for the latents")

    # ---- work: chunk by chunk, in bounded memory ----
    dev, loaded = kit.load_generator(env, model)
    outputs = Outputs(env, grid=output, out_dir=out_dir, latents=latents)
    seed = env.options.seed
    draw(loaded["generator"], info, dev, p, seed, given, outputs,
         make_progress(env, "sample") if p.total > CHUNK else NullProgress())
    source = f"from {'<stdin>' if latents_in == STDIO else latents_in}" if given is not None else f"seed {seed}"
    env.log(f"drew {kit.plural(p.total, 'image')} ({source}){outputs.written()}")
    if env.options.json:
        kit.print_json(env, {"model": model, "count": p.total, "latent_dim": info.config.latent_dim,
                             "seed": None if given is not None else seed, "latents_in": latents_in,
                             "grid": output, "out_dir": str(out_dir) if out_dir else None, "latents": latents,
                             "classes": [info.classes[c] for c in p.classes] if p.classes else None})

# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("A PNG grid of 64 images, 8 per row.", "gantool sample -m run/model.safetensors -n 64 -o grid.png"),
    ("Two latents through a pipe, the model named once in the environment.",
     "GANTOOL_MODEL=run/model.safetensors gantool sample -n 2 | "
     "python -c \"import io, sys, numpy; print(numpy.load(io.BytesIO(sys.stdin.buffer.read())).shape)\""),
    ("From a conditional model (train --conditional --out cgan): 16 images of class 3 only.",
     "gantool sample -m cgan/model.safetensors --class 3 -o threes.png"),
    ("Latents back to pictures: redraw saved latents (from any gantool command) as a grid.",
     "gantool sample -m run/model.safetensors --latents-in z.npy -o again.png"),
]
FILES = [("*.safetensors", "A model from gantool train; its header holds all it takes to rebuild it."),
         ("*.npy", "Latents: float32, one row per image, the generator's whole input.")]
