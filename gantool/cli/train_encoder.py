"""`gantool train-encoder`: an encoder for a generator, from the generator alone, for `invert --init encoder`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gantool.cli import kit
from gantool.context import Env
from gantool.latent.encoder import EncoderSettings


@kit.command(settings={"settings": EncoderSettings})
def train_encoder(
    env: Env,
    settings: dict,
    model: kit.Model = None,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", show_default=False, metavar="FILE",
        help="Where to write the encoder (default: beside the model, NAME.encoder.safetensors, where invert "
             "--init encoder looks).")] = None,
) -> None:
    """Train an encoder (image -> latent) for a generator, from the generator alone.

    Every step draws fresh pairs (z, G(z)); no real data is needed. `gantool invert --init encoder`
    then starts each image from the encoder's guess instead of a random latent, and reaches a given
    PSNR in a fraction of the steps. Prints the encoder's path.
    """
    from gantool.errors import UsageError
    from gantool.files.writing import STDIO, check_writable
    from gantool.latent.encoder import encoder_path, save_encoder, train_encoder as run
    from gantool.models import loader
    from gantool.progress import make_progress

    model = kit.require_model(model)
    s = EncoderSettings(**settings)
    s.validate()
    if output == STDIO:
        raise UsageError("-o -: an encoder is written to a file", "give -o FILE.safetensors")
    target = output or str(encoder_path(model))
    info = loader.inspect(model, kinds=("gan",))
    check_writable(target, "-o", holds="safetensors")
    dev, loaded = kit.load_generator(env, model)
    seed = env.options.seed
    E, mse = run(loaded["generator"], s, seed, dev, progress=make_progress(env, "train-encoder"))
    save_encoder(target, E, info, model, s, seed, mse)
    env.log(f"trained {kit.article('encoder')} for {model} in {kit.plural(s.steps, 'step')} (seed {seed}): "
            f"held-out latent MSE {mse:.4f}")
    if env.options.json:
        kit.print_json(env, {"encoder": target, "model": model, "steps": s.steps, "seed": seed, "heldout_latent_mse": mse})
    else:
        env.write_text(f"{target}\n")


# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("An encoder beside the model (run/model.encoder.safetensors), then inversion that starts from it.",
     "gantool train-encoder -m run/model.safetensors && gantool invert faces/ -m run/model.safetensors "
     "--init encoder --steps 100 --latents z.npy"),
]
FILES = [("NAME.encoder.safetensors", "The encoder, beside the model NAME.safetensors it was trained for.")]
