"""`gantool restore`: repair damaged images by searching the generator's latent space."""

from __future__ import annotations

from gantool.cli import kit, search
from gantool.context import Env
from gantool.latent.finetune import FinetuneSettings
from gantool.latent.invert import SearchSettings
from gantool.latent.restore import Damage
from gantool.latent.settings import RestoreSettings


@kit.command(settings={"damage": Damage, "settings": SearchSettings, "job": RestoreSettings,
                       "finetune": FinetuneSettings})
def restore(
    env: Env,
    damage: dict,
    settings: dict,
    job: dict,
    finetune: dict,
    images: search.DamagedImages = None,
    model: kit.Model = None,
    reference: search.Reference = None,
    init: search.Init = "random",
    class_: search.SearchClass = None,
    output: search.output_option("Write a PNG panel here, a row per image: damaged | restored (| variants) "
                                 "(| reference)") = None,
    out_dir: search.out_dir_option("Write each restoration as NAME.png into this folder (variants as NAME-2.png, "
                                   "...).") = None,
    latents: search.latents_option("the latents, V rows per image,") = None,
) -> None:
    """Restore damaged images with the generator as the prior: inpaint, denoise, deblur, upscale, colorize.

    The damage options compose in one call (e.g. --downsample 4 --noise 0.05). restore searches the
    latent whose image, damaged the same way, matches the input on its known pixels, for all
    images and restarts in one batch (as gantool invert: an image's result does not depend on the
    others, and the same --seed gives the same result). The input is the damaged image, at the
    observed size (the model's size divided by --downsample; other sizes are centre-cropped and
    resized), grayscale under --gray. The table (loss, class, and with a reference the PSNR and
    SSIM of the damaged input and of the restoration) goes to stdout, or to stderr when the latents
    take stdout; --json prints one JSON object per image instead. --finetune N then fine-tunes a
    copy of the generator for each image (the model file is never changed).
    """
    from gantool.latent.jobs import read_restore_inputs, restore_images
    from gantool.latent.outputs import variant_suffixes
    from gantool.models import loader
    from gantool.progress import make_progress

    # ---- check ----
    model = kit.require_model(model)
    ft = FinetuneSettings.checked(finetune)
    dmg, opt, rs = _settings(damage, settings, job, reference, ft)
    outputs, chunks, references = search.outputs(env, images, output, out_dir, latents,
                                                 variant_suffixes(rs.variants), reference)
    info = loader.inspect(model, kinds=("gan",))
    cfg, seed = info.config, env.options.seed
    dmg.validate(cfg.channels, cfg.image_size)
    search.check_class(class_, model, info)
    ft.check_model(info)
    search.check_init(init, model)
    hint = "convert it to grayscale first" if cfg.channels == 1 else "add --gray to colorize grayscale images"
    inputs = read_restore_inputs(chunks, references, dmg, rs.simulate, cfg, seed, hint)
    start = search.read_start(env, init, len(inputs.names), cfg)

    # ---- work ----
    dev, loaded = kit.load_generator(env, model, roles=ft.roles())
    result = restore_images(loaded, info, inputs, dmg, opt, rs.variants, rs.simulate, rs.paste_known, seed,
                            search.classes_for(class_, info, len(inputs.names)), start,
                            search.load_encoder(init, model, dev), make_progress(env, "restore"),
                            ft, make_progress(env, "finetune"))
    result.write(outputs)
    search.print_table(env, result, outputs, cfg.conditional, restore=True)
    env.log(_status(result.means, len(inputs.names), opt, ft, seed))


def _status(m: dict, count: int, opt, ft, seed: int) -> str:
    """The closing line: what was searched, and with a reference the PSNR and SSIM before and after."""
    summary = f": PSNR {m['damaged_psnr']:.2f} -> {m['psnr']:.2f} dB, SSIM {m['damaged_ssim']:.3f} -> " \
              f"{m['ssim']:.3f}" if m else ""
    return (f"restored {kit.plural(count, 'image')} in {opt.steps} steps x {kit.plural(opt.restarts, 'restart')}"
            f"{ft.summary()} (seed {seed}){summary}")


def _settings(damage: dict, settings: dict, job: dict, reference, ft: FinetuneSettings):
    """The damage, the search and the job's settings, checked, and the options that contradict."""
    from gantool.errors import UsageError

    dmg, rs = Damage(**damage), RestoreSettings(**job)
    dmg.check()
    rs.validate()
    if not dmg.any():
        raise UsageError("name the damage: --mask, --blur, --noise, --downsample or --gray",
                         "gantool invert fits undamaged images")
    if "restarts" not in settings:
        settings["restarts"] = min(64, 2 * rs.variants) if rs.variants > 1 else ft.finetune_average if ft.on else 1
    opt = SearchSettings(**settings)
    opt.validate()
    ft.check_search(opt.restarts, rs.variants)
    if rs.variants > opt.restarts:
        raise UsageError(f"--variants {rs.variants} needs --restarts {rs.variants} or more (given {opt.restarts})")
    if rs.simulate and reference:
        raise UsageError("--simulate measures against its own clean input: --reference is for damaged input")
    if rs.paste_known and (dmg.blur or not (dmg.mask or dmg.downsample > 1 or dmg.gray)):
        raise UsageError("--paste-known keeps what the input shows under --mask, --downsample or --gray; "
                         "a blurred input has no pixels to keep")
    return dmg, opt, rs

# For the man page (gantool.docgen): (what it does, command line).
EXAMPLES = [
    ("Demonstrate inpainting on clean images: cut a centre hole, fill it, and write a panel damaged | restored | "
     "original with the PSNR of each.",
     "gantool restore --simulate --mask center clean/ -m run/model.safetensors -o panel.png"),
    ("Restore real damaged photos with a hole marked in white in hole.png, keeping the pixels that survived.",
     "gantool restore damaged/ -m run/model.safetensors --mask hole.png --paste-known --out-dir restored/"),
    ("Four times the resolution, with some noise, scored against the originals.",
     "gantool restore small/ -m run/model.safetensors --downsample 4 --noise 0.05 --reference originals/ --json "
     "-o panel.png"),
    ("A large hole is ambiguous: show four different plausible fills from eight restarts.",
     "gantool restore --simulate --mask random:0.9 clean/ -m run/model.safetensors --variants 4 --restarts 8 "
     "-o variants.png"),
]
FILES = [("*.npy", "Latents out (V rows per image under --variants) and --init in: float32."),
         ("MASK.png", "--mask FILE: white (>= 128) marks missing pixels, at the input's size.")]
