"""`gantool classify`: the top-k classes of images, by any classifier gantool can load."""

from __future__ import annotations

from gantool.cli import kit
from gantool.context import Env
from gantool.explain.settings import ClassifySettings


@kit.command(settings={"settings": ClassifySettings})
def classify(
    env: Env,
    settings: dict,
    images: kit.Images = None,
    model: kit.ClassifierModel = None,
    pretrained: kit.Pretrained = False,
    weights: kit.Weights = None,
) -> None:
    """Show each image's most probable classes and their probabilities.

    Images are read at the size the model loads them (zoo models: 256, then centre-cropped to 224
    inside the model, as their weights expect; gantool files: their own size), converted to its
    channels (a gray image is repeated to RGB for RGB models), and classified 64 at a time, in
    bounded memory. A table on stdout (image, then class: probability for the top K), or with --json
    one JSON object per image (written as each chunk is done).
    """
    from gantool.classify.classifiers import TopK
    from gantool.data.inputs import ImageChunks
    from gantool.explain.jobs import run
    from gantool.progress import make_progress

    s = ClassifySettings(**settings)
    s.validate()
    sources = kit.image_sources(images)
    chunks = ImageChunks(sources, kit.stdin_images(env, sources))  # every path checked before the model is read
    dev, clf = kit.load_classifier(env, model, pretrained, weights)
    job = TopK(clf, dev, s.top)
    rows = kit.stream_rows(env, run(chunks, job, lambda: make_progress(env, "classify")))
    if not env.options.json:
        ranks = [f"#{j + 1}" for j in range(len(rows[0]["top"]) if rows else 0)]
        shown = [{"image": r["image"], **{rank: f"{t['class']}: {t['probability']:.3f}"
                                          for rank, t in zip(ranks, r["top"])}} for r in rows]
        kit.print_rows(env, shown, [("image", "image", "")] + [(rank, rank, "") for rank in ranks])
    source = f" ({clf.source})" if clf.source != clf.name else ""
    env.log(f"classified {kit.plural(len(rows), 'image')} with {clf.name}{source}")


# For the man page (gantool.docgen): (what it does, command line).
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
