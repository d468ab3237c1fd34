"""`gantool blend`: MNIST-M-style colour digits, built offline from a digit source and a folder of photos."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gantool.cli import kit
from gantool.context import Env
from gantool.data.blend import DATA, BlendSettings

DataRoot, Download = kit.data_root_option(DATA)


@kit.command(settings={"settings": BlendSettings})
def blend(
    env: Env,
    settings: dict,
    out_dir: Annotated[Optional[str], typer.Option("--out-dir", show_default=False, metavar="DIR",
                                                   help="Write PNGs here, in a subfolder per class.")] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", show_default=False, metavar="FILE",
                                                  help="Write one .npz (images, labels, classes; - for stdout).")] = None,
    data_root: DataRoot = None,
    download: Download = False,
) -> None:
    """Blend digits with random crops of photos, as MNIST-M was made.

    Each digit is binarized and laid over a random crop of a random photo from --photos, the
    colours inverted under its strokes (|crop - digit| per channel), at the source's size or
    --image-size. Seeded by --seed; written a chunk at a time; the labels are kept (class subfolders,
    or labels in the .npz) for scoring an adaptation, never for training it.
    """
    from gantool.data.blend import check_folder_output, plan, write_folder, write_npz
    from gantool.errors import UsageError
    from gantool.files.writing import STDIO, check_writable, output as open_output
    from gantool.progress import make_progress

    s = BlendSettings(**settings)
    s.validate()
    if out_dir is not None and output is not None:
        raise UsageError("--out-dir and -o: give one", "--out-dir DIR for PNGs, or -o FILE.npz")
    if out_dir is not None:
        check_folder_output(out_dir, "--out-dir")
    else:
        output = kit.check_outputs(env, [("-o", output, "an .npz of images")], default="-o",
                                   hint="use --out-dir DIR or -o FILE.npz (- for stdout)")["-o"]
        if output != STDIO:
            check_writable(output, "-o", "npz")
    work = plan(s, env.options.seed, root=str(data_root) if data_root else None, download=download)
    env.log(f"blending {kit.plural(len(work), 'digit')} from {work.source} with {kit.plural(len(work.photos), 'photo')} "
            f"at {work.size}x{work.size}, seed {env.options.seed}")
    if out_dir is not None:
        write_folder(work, out_dir, make_progress(env, "blend"))
    else:
        with open_output(env, output, "an .npz of images", "-o") as stream:
            write_npz(work, stream, make_progress(env, "blend"))
    if env.options.json:
        kit.print_json(env, {**work.summary(), "output": out_dir or output, "seed": env.options.seed})


EXAMPLES = [
    ("MNIST-M-style digits from the embedded 8x8 digits and a folder of photos, as one .npz.",
     "gantool blend --data digits --photos photos/ -o digits-m.npz"),
    ("Fashion-MNIST over photos at 32x32, as PNGs in a folder per class.",
     "gantool --seed 1 blend --data fashion-mnist --photos photos/ --image-size 32 --out-dir fashion-m/"),
]
FILES = [("*.npz", "images uint8 (N, 3, S, S), and labels (N,) int64 and classes when the source has labels.")]
