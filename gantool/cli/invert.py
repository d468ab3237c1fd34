"""`gantool invert`: the latents that reproduce given images, with PSNR and SSIM per image."""

from __future__ import annotations

from gantool.cli import kit, search
from gantool.context import Env
from gantool.latent.finetune import FinetuneSettings
from gantool.latent.invert import InvertSettings


@kit.command(settings={"settings": InvertSettings, "finetune": FinetuneSettings})
def invert(
    env: Env,
    settings: dict,
    finetune: dict,
    images: kit.Images = None,
    model: kit.Model = None,
    init: search.Init = "random",
    class_: search.SearchClass = None,
    output: search.output_option("Write a PNG grid of target | reconstruction pairs here") = None,
    out_dir: search.out_dir_option("Write each reconstruction as a PNG into this folder.") = None,
    latents: search.latents_option() = None,
) -> None:
    """Find the latent that reproduces each image (GAN inversion), and report PSNR and SSIM.

    All images and all restarts are optimized together as one batch, the generator in eval mode and
    each image's loss its own: an image gets the same latent alone or inside any batch, and the same
    --seed the same result. The table (PSNR, SSIM, final loss, class) goes to stdout, or to stderr
    when the latents take stdout; --json prints one JSON object per image instead. --finetune N
    then fine-tunes a copy of the generator for each image, past what the latents alone reach (the
    latents written stay the search's; the model file is never changed).
    """
    from gantool.latent.jobs import invert_images, read_all
    from gantool.models import loader
    from gantool.progress import make_progress

    # ---- check ----
    model = kit.require_model(model)
    inv = InvertSettings(**settings)
    inv.validate()
    ft = FinetuneSettings.checked(finetune)
    ft.check_search(inv.restarts)
    outputs, chunks, _ = search.outputs(env, images, output, out_dir, latents, (".png",))
    info = loader.inspect(model, kinds=("gan",))
    cfg = info.config
    search.check_class(class_, model, info)
    ft.check_model(info)
    search.check_init(init, model)
    targets8, names = read_all(chunks, cfg.channels, cfg.image_size, exact_channels=(
        "convert it to grayscale first" if cfg.channels == 1 else "gantool restore --gray colorizes grayscale images"))
    start = search.read_start(env, init, len(names), cfg)

    # ---- work ----
    dev, loaded = kit.load_generator(env, model, roles=ft.roles(inv.perceptual > 0))
    job = invert_images(loaded, info, targets8, names, inv, env.options.seed, search.classes_for(class_, info, len(names)),
                        start, search.load_encoder(init, model, dev), make_progress(env, "invert"),
                        ft, make_progress(env, "finetune"))
    job.write(outputs)
    search.print_table(env, job, outputs, cfg.conditional, restore=False)
    env.log(f"inverted {kit.plural(len(names), 'image')} in {inv.steps} steps x {kit.plural(inv.restarts, 'restart')}"
            f"{ft.summary()} (seed {env.options.seed}): mean PSNR {job.means['psnr']:.2f} dB, "
            f"SSIM {job.means['ssim']:.3f}")

# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("Invert a folder of images: latents, a grid of target | reconstruction pairs, and a PSNR/SSIM table.",
     "gantool invert faces/ -m run/model.safetensors --latents z.npy -o pairs.png"),
    ("Generated images come back to (about) their own latents: a check of the optimizer.",
     "gantool sample -m run/model.safetensors -n 8 --out-dir gen/ && gantool invert gen/ -m run/model.safetensors "
     "--restarts 4 --init best-of-64 --steps 500 --latents z.npy"),
    ("Invert, then walk between the first two images' latents.",
     "gantool invert a.png b.png -m run/model.safetensors --latents - | gantool interpolate -o walk.png"),
]
FILES = [("*.npy", "Latents out (and --init in): float32, one row per image.")]
