"""`gantool compare --html` in a real browser: the page opens in headless Chromium, every image on it
loads, a screenshot of it is not blank, and it needs nothing from the network.

Skipped where no Chromium (or Chrome) is installed. Set GANTOOL_KEEP_SCREENSHOT=PATH to keep a copy
of the screenshot at PATH; it is always left in the test's tmp_path and its path printed (`pytest -s`)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import TINY

BROWSER = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BROWSER is None, reason="no Chromium installed (looked for chromium, "
                       "chromium-browser, google-chrome on PATH)"),
]

# Headless, as root, on a closed network: without the background-networking flags Chromium stalls.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars"]

CHECK_ID = "gantool-img-check"

# Appended before </body> of a copy of the page: once the page has loaded, every <img> must be complete
# with a natural width (lazy ones are asked to load first), and the verdict goes into <pre id=CHECK_ID>
# and document.title as JSON.
CHECK_SCRIPT = """
<pre id="%(id)s">pending</pre>
<script>
window.addEventListener("load", async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.filter(i => !i.complete).map(i => new Promise(done => {
    i.loading = "eager";
    i.addEventListener("load", done); i.addEventListener("error", done);
    setTimeout(done, 2000);
  })));
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0))
                     .map(i => (i.getAttribute("src") || "").slice(0, 80));
  const verdict = JSON.stringify({images: imgs.length, broken: broken});
  document.getElementById("%(id)s").textContent = verdict;
  document.title = verdict;
});
</script>
""" % {"id": CHECK_ID}


def browser(*args, tmp: Path) -> subprocess.CompletedProcess:
    """Run the browser headless with a fresh, empty profile directory."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp)
    try:
        return subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={profile}", *map(str, args)],
                              capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def with_option(args: list[str], option: str, value: str) -> list[str]:
    """`args` with `option`'s value replaced (or the option added), never given twice."""
    args = list(args)
    if option in args:
        args[args.index(option) + 1] = value
        return args
    return [*args, option, value]


def external_references(page: str) -> list[str]:
    """Whatever the page would fetch or link to outside itself: http(s) URLs anywhere, and src/href/
    srcset/url() values that are neither data: URIs nor # anchors. XML namespace declarations
    (xmlns="http://www.w3.org/...") name a vocabulary, fetch nothing, and are left out."""
    page = re.sub(r"""\bxmlns(?::\w+)?\s*=\s*(?:"[^"]*"|'[^']*')""", "", page)
    found = re.findall(r"""https?://[^\s"'<>)]*""", page)
    attr = r"""\b(?:src|href|srcset|poster|action)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))"""
    for m in re.finditer(attr, page, re.IGNORECASE):
        value = next(g for g in m.groups() if g is not None).strip()
        if not (value.startswith("data:") or value.startswith("#")):
            found.append(m.group(0)[:120])
    for m in re.finditer(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", page):
        value = m.group(2).strip()
        if not (value.startswith("data:") or value.startswith("#")):
            found.append(m.group(0)[:120])
    found += re.findall(r"@import\b[^;]*", page)
    return found


def test_compare_page_in_browser(gantool, tmp_path):
    for run, ngf in (("a", "8"), ("b", "12")):
        r = gantool("train", "--out", tmp_path / run, "--steps", "40", "--seed", "0",
                    *with_option(TINY, "--ngf", ngf))
        assert r.code == 0, r.stderr

    page = tmp_path / "c.html"
    r = gantool("compare", tmp_path / "a", tmp_path / "b", "--html", page)
    assert r.code == 0, r.stderr
    assert page.is_file(), f"compare exited 0 but wrote no {page}"
    text = page.read_text(encoding="utf-8")

    # Self-contained: nothing the page needs, or links to, lies outside it.
    assert external_references(text) == []

    # Every image loads: a copy of the page with the check script, its DOM dumped after load.
    assert "</body>" in text.lower(), "the page has no </body>"
    cut = text.lower().rindex("</body>")
    checked = tmp_path / "c-checked.html"
    checked.write_text(text[:cut] + CHECK_SCRIPT + text[cut:], encoding="utf-8")
    p = browser("--virtual-time-budget=5000", "--dump-dom", checked.as_uri(), tmp=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    m = re.search(rf'<pre id="{CHECK_ID}">(.*?)</pre>', p.stdout, re.DOTALL)
    assert m, f"no check result in the dumped DOM:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    assert m.group(1) != "pending", "the page's load event never fired (or the check script failed)"
    verdict = json.loads(html.unescape(m.group(1)))
    assert verdict["images"] >= 1, verdict
    assert verdict["broken"] == [], verdict

    # A screenshot of the original page is not blank.
    from PIL import Image, ImageStat

    shot = tmp_path / "compare-screenshot.png"
    p = browser("--window-size=1280,2000", f"--screenshot={shot}", page.as_uri(), tmp=tmp_path)
    assert p.returncode == 0 and shot.is_file(), p.stderr[-2000:]
    print(f"\nscreenshot: {shot}")
    if os.environ.get("GANTOOL_KEEP_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["GANTOOL_KEEP_SCREENSHOT"])
        print(f"screenshot kept at {os.environ['GANTOOL_KEEP_SCREENSHOT']}")
    with Image.open(shot) as im:
        rgb = im.convert("RGB")
    assert rgb.size == (1280, 2000), rgb.size
    stddev = max(ImageStat.Stat(rgb).stddev)
    colours = rgb.getcolors(maxcolors=1 << 24)
    assert stddev > 10, f"screenshot is nearly uniform (stddev {stddev:.2f})"
    assert len(colours) > 32, f"screenshot has only {len(colours)} distinct colours"
