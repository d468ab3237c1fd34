"""`gantool classify`: the top-k classes of images, by any classifier gantool can load."""

from __future__ import annotations

from typing import Annotated

import typer

from gantool.cli import kit
from gantool.context import Env

MAX_TOP = 1000
CHUNK = 64  # images per forward pass: 64 x 3 x 256 x 256 uint8 is 12 MB, its float copy 50 MB


@kit.command()
def classify(
    env: Env,
    images: kit.Images = None,
    model: kit.ClassifierModel = None,
    pretrained: kit.Pretrained = False,
    weights: kit.Weights = None,
    top: Annotated[int, typer.Option(
        "--top", "-k", min=1, max=MAX_TOP, show_default=False, metavar="K",
        help="How many classes to show per image, most probable first (default 5).")] = 5,
) -> None:
    """Show each image's most probable classes and their probabilities.

    Images are read at the size the model loads them (zoo models: 256, then centre-cropped to 224
    inside the model, as their weights expect; gantool files: their own size), converted to its
    channels (a gray image is repeated to RGB for RGB models), and classified 64 at a time, in
    bounded memory. A table on stdout (image, then class: probability for the top K), or with --json
    one JSON object per image (written as each chunk is done).
    """
    import json

    from gantool.classify.classifiers import top_k
    from gantool.data.chunks import ImageChunks
    from gantool.progress import make_progress

    sources = kit.image_sources(images)
    stdin = kit.stdin_images(env, sources)
    chunks = ImageChunks(sources, stdin, chunk=CHUNK)  # every path checked before the model is read
    dev, clf = kit.load_classifier(env, model, pretrained, weights)
    progress = make_progress(env, "classify") if chunks.total > CHUNK else None
    if progress is not None:
        progress.start(chunks.total)
    rows, done = [], 0
    for pixels, names in chunks.read(clf.channels, clf.resize_size):
        probs, idx = top_k(clf, pixels, top, dev)
        chunk = [{"image": name, "top": [{"class": clf.classes[int(i)], "index": int(i),
                                          "probability": round(float(p), 6)} for p, i in zip(probs[n], idx[n])]}
                 for n, name in enumerate(names)]
        if env.options.json:  # JSON lines as they come; the table needs them all
            env.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in chunk))
        else:
            rows += chunk
        done += len(names)
        if progress is not None:
            progress.update(done, {})
    if progress is not None:
        progress.stop()
    if not env.options.json:
        env.write_text(_table(rows))
    weights = f" ({clf.source})" if clf.source != clf.name else ""
    env.log(f"classified {kit.plural(done, 'image')} with {clf.name}{weights}")


def _table(rows: list[dict]) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    k = len(rows[0]["top"])
    table = Table(show_header=True, header_style="bold")
    table.add_column("image")
    for j in range(k):
        table.add_column(f"#{j + 1}")
    for r in rows:
        table.add_row(r["image"], *(f"{t['class']}: {t['probability']:.3f}" for t in r["top"]))
    buf = io.StringIO()
    Console(file=buf, width=max(100, 24 * (k + 1)), no_color=True, force_terminal=False).print(table)
    return buf.getvalue()


# For the man page (gantool.cli.docgen): (what it does, command line).
EXAMPLES = [
    ("ImageNet's top 5 for photos, with torchvision's resnet18 weights from the torch cache.",
     "gantool classify photos/ -m resnet18 --pretrained"),
    ("What a digit classifier makes of a GAN's samples, as JSON lines.",
     "gantool sample -m run/model.safetensors -n 16 --out-dir gen/ && "
     "gantool --json classify gen/ -m digits.safetensors -k 1"),
    ("A GAN's discriminator as a real/fake classifier.", "gantool classify a.png -m run/model.safetensors -k 2"),
    ("Fine-tuned or converted weights for a zoo architecture.", "gantool classify x.png -m resnet18 --weights my-resnet18.pth"),
]
FILES = [("$TORCH_HOME/hub/checkpoints/*.pth", "torchvision's weights, as torch.hub keeps them; --pretrained reads "
                                               "them there and never downloads.")]
ENVIRONMENT = kit.TORCH_HOME
