"""`gantool translate`: apply a translation model (from `gantool train-pix2pix`) to images of any size."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gantool.cli import kit
from gantool.context import Env
from gantool.translation.apply import TranslateSettings

Model = Annotated[Optional[str], typer.Option(
    "--model", "-m", envvar="GANTOOL_MODEL", show_default=False, metavar="FILE",
    help="A translation model .safetensors from `gantool train-pix2pix` or `gantool train-cyclegan` (env "
         "GANTOOL_MODEL).")]
Reference = Annotated[Optional[str], typer.Option(
    "--reference", show_default=False, metavar="SOURCE",
    help="The ground truth: a folder holding images with the inputs' names (any image ending), a .npy/.npz batch "
         "in the inputs' order, or one image for one input: PSNR, SSIM and colourfulness per image.")]
Output = Annotated[Optional[str], typer.Option(
    "--output", "-o", show_default=False, metavar="FILE",
    help="Write a PNG panel here, a row per image: input | output (| reference), smaller images padded in black "
         "(- for stdout).")]
OutDir = Annotated[Optional[Path], typer.Option(
    "--out-dir", show_default=False, metavar="DIR", help="Write each translation as NAME.png into this folder.")]


@kit.command(settings={"job": TranslateSettings})
def translate(env: Env, job: dict, images: kit.Images = None, model: Model = None, reference: Reference = None,
              output: Output = None, out_dir: OutDir = None) -> None:
    """Translate images with a pix2pix or CycleGAN model: colorize, restore, or map A to B, at any size.

    A CycleGAN model holds both directions: --direction a2b (the default) or b2a picks its generator.
    The networks are fully convolutional: an image of any size comes back at its size (a restorer's
    input under downsampling damage is the small damaged image: it comes back K times larger).
    Colorization takes colour or grayscale images (colour ones are reduced to L first, so they can
    be re-colorized and scored with --self-reference); an image larger than the model's training
    scale has its a*b* predicted on a copy at that scale, joined to its own full-resolution L.
    Images are read and written a few at a time. The table (size, colourfulness, and with a
    reference the PSNR and SSIM) goes to stdout, to stderr when the panel takes stdout; --json
    prints one JSON object per image instead.
    """
    from gantool.progress import make_progress
    from gantool.translation.apply import Translation, columns, plan, summary

    model, ts = kit.require_model(model), TranslateSettings(**job)
    ts.validate(reference)
    chunks, output, stems = kit.image_chunks(env, images, out_dir, output, ts.columns(reference), "translations")
    p = plan(model, chunks, ts, reference, panel=output is not None)
    dev, loaded = kit.load_generator(env, model, kinds=("translator",), roles=(p.role,))
    job_ = Translation(p, loaded[p.role], env.options.seed)
    rows = kit.stream_rows(env, job_.run(out_dir, stems, lambda: make_progress(env, "translate")))
    if output is not None:
        from gantool.files.writing import write_output

        write_output(env, output, job_.panel_png(), "a PNG image", "-o")
    if not env.options.json:
        kit.print_rows(env, rows, columns(rows), to_stderr=output == "-")
    env.log(summary(rows, p, env.options.seed))


# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("Colorize grayscale photos of any size into a folder, one PNG each.",
     "gantool translate -m colorize/model.safetensors gray/ --out-dir colour/"),
    ("Re-colorize colour photos and score the colours against the originals: PSNR, SSIM and colourfulness per "
     "photo, and a panel L | output | original.",
     "gantool translate -m colorize/model.safetensors photos/ --self-reference -o panel.png"),
    ("Translate the test half of a side-by-side AB set (facades) and score each against its other half, as JSON "
     "lines.",
     "gantool --json translate -m facades/model.safetensors --ab facades/test/ --out-dir out/"),
    ("Restore small damaged images with a learned restorer, scored against the clean originals of the same names.",
     "gantool translate -m restorer/model.safetensors damaged/ --reference clean/ -o panel.png"),
    ("Both directions of one CycleGAN: sneakers to boots, and boots back to sneakers.",
     "gantool translate -m shoes-run/model.safetensors --direction b2a boots/ --out-dir as-sneakers/"),
    ("A stochastic colorization (test-time dropout): another --seed gives another, the same seed the same.",
     "gantool --seed 7 translate -m colorize/model.safetensors photo.png --dropout --out-dir seed7/"),
]
FILES = [("MODEL.safetensors", "A translator: generator.* and discriminator.* tensors (a CycleGAN's generator_ab.*, "
                               "generator_ba.*, discriminator_a.*, discriminator_b.*); its task, direction, load "
                               "size and damage in gantool.data.")]
