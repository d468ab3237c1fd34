"""docs/adversarial-digits.png from `gantool adversarial`'s own outputs: for six held-out digits,
original | perturbation (amplified) | adversarial, with the classes and probabilities of its JSON.

    python bench/adversarial_figure.py OUT_DIR JSONL DIGITS.npy docs/adversarial-digits.png
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def main() -> None:
    out_dir, jsonl, digits, target = sys.argv[1:5]
    rows = [json.loads(line) for line in open(jsonl)]
    originals = np.load(digits, allow_pickle=False)
    fig, axes = plt.subplots(3, len(rows), figsize=(1.3 * len(rows), 4.3))
    for j, row in enumerate(rows):
        pictures = [originals[j], np.array(Image.open(row["files"]["perturbation"])),
                    np.array(Image.open(row["files"]["adversarial"]))]
        titles = [f"{row['original']} ({row['original_probability']:.2f})", f"Linf {row['linf_255']}/255",
                  f"{row['saved_final']} ({row['saved_probability']:.2f})"]
        for i in range(3):
            axes[i, j].imshow(pictures[i], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            axes[i, j].set_title(titles[i], fontsize=9)
            axes[i, j].axis("off")
    for i, label in enumerate(("original", "perturbation", "adversarial (PNG)")):
        fig.text(0.005, 0.83 - i * 0.31, label, rotation=90, fontsize=9, va="center")
    fig.suptitle("targeted PGD, Linf eps 0.3, towards the runner-up class", fontsize=10)
    fig.tight_layout(rect=(0.02, 0, 1, 1))
    fig.savefig(target, dpi=100)


if __name__ == "__main__":
    main()
