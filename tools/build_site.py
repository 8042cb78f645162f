"""Build the course's static site: `make site` (writes build/site; open build/site/index.html).

One page per notebook, rendered by Sphinx with myst-nb from the outputs stored in notebooks/*.ipynb
(nothing is executed), and the README's table of notebooks as the index. Every explorer works in the
page without a kernel: its widget state holds the weights and the JavaScript (vae_lite/explorers.js),
and ipywidgets' HTML manager, bundled here from npm with esbuild, renders it. The folder loads
nothing from the internet, so it can be served from anywhere or copied to a USB stick.

    python tools/build_site.py                       # build/site
    python tools/build_site.py --out /tmp/site       # elsewhere
    python tools/build_site.py --notebooks notebooks/07_latent_space.ipynb   # some pages only

Needs `npm ci` once (make setup does it): node_modules/ holds the HTML manager, esbuild and MathJax.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
SITE_LIMIT_MB = 30  # the whole site at most: `make site` fails above it
# the parts of MathJax the pages load: the TeX-to-HTML component, its fonts, and what it loads on demand
MATHJAX_PARTS = ("tex-chtml.js", "input", "output", "ui", "a11y", "sre", "adaptors")


def bundle_widgets(static):
    """ipywidgets' HTML manager with anywidget's models (site/widgets.js), bundled by esbuild into `static`."""
    esbuild = NODE_MODULES / ".bin" / "esbuild"
    if not esbuild.exists():
        raise SystemExit(f"{esbuild} not found: run `npm ci` in {ROOT} once (make setup does it)")
    fonts = [f"--loader:.{ext}=file" for ext in ("woff", "woff2", "ttf", "eot", "svg")]
    # the HTML manager's sources assign webpack's public path; esbuild has none, so give it one
    subprocess.run([str(esbuild), str(ROOT / "site" / "widgets.js"), "--bundle", "--format=iife", "--minify",
                    "--log-level=warning", f"--outfile={static / 'vae_lite_widgets.js'}", *fonts,
                    "--banner:js=var __webpack_public_path__ = '';", "--define:process.env.NODE_ENV=\"production\""],
                   check=True, cwd=ROOT)
    mathjax = NODE_MODULES / "mathjax" / "es5"
    for part in MATHJAX_PARTS:
        source, target = mathjax / part, static / "mathjax" / part
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


REMOTE_IMAGE = re.compile(r"!\[([^]]*)\]\((https?:[^)]*)\)")


def offline(text):
    """Markdown with each image from the internet (the Colab and Binder badges) replaced by its alt text."""
    return REMOTE_IMAGE.sub(lambda m: m.group(1), text)


def copy_notebook(path, target):
    """The stored notebook as the site renders it: its markdown without images from the internet."""
    nb = json.loads(Path(path).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = offline(source)
    target.write_text(json.dumps(nb))


def index_page(readme, pages):
    """The README's title and its table of notebooks, each linked to its page; a hidden table of contents."""
    text = readme.read_text()
    title = text.splitlines()[0]
    table = re.search(r"^\| # \|.*?(?=\n\n)", text, flags=re.S | re.M).group(0)
    table = re.sub(r"\]\(notebooks/(\w+)\.ipynb\)", r"](\1.ipynb)", table)
    toc = "\n".join(page.stem for page in pages)
    return (f"{title}\n\nThe course's notebooks, shown with the outputs they store. Every explorer works in "
            "the page, with no kernel: move a slider, or draw a digit in notebook 11. To run the notebooks "
            "yourself, clone the repository and run `make lab` (its README says more).\n\n"
            f"## The notebooks\n\n{table}\n\n```{{toctree}}\n:hidden:\n:maxdepth: 1\n\n{toc}\n```\n")


def trim(html):
    """Leave out what no page loads: source maps, and the icon font in the formats that browsers
    older than woff2 (2016) needed (the CSS lists woff2 first; every browser since takes it)."""
    static = html / "_static"
    for path in [*static.rglob("*.map"), *(p for p in static.glob("fa-*") if p.suffix != ".woff2")]:
        path.unlink()


def build(out, notebooks=None, quiet=True):
    """Build the site into `out` from the stored notebooks (all, or the given .ipynb paths)."""
    out = Path(out)
    notebooks = [Path(p) for p in notebooks] if notebooks else sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source"
        static = source / "_static"
        static.mkdir(parents=True)
        bundle_widgets(static)
        for path in notebooks:
            copy_notebook(path, source / path.name)
        (source / "index.md").write_text(index_page(ROOT / "README.md", notebooks))
        for name in ("conf.py", "favicon.svg"):
            shutil.copy2(ROOT / "site" / name, source / name)
        html = Path(tmp) / "build" / "html"  # myst-nb writes the outputs' files beside it, in build/
        command = [sys.executable, "-m", "sphinx", "-b", "html", "-j", "1", "-d", str(Path(tmp) / "build" / "doctrees"),
                   str(source), str(html)] + (["-q"] if quiet else [])
        subprocess.run(command, check=True, cwd=tmp)
        trim(html)
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(html, out)
    return out


def size_mb(folder):
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 2**20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "build" / "site"))
    parser.add_argument("--notebooks", nargs="*", help="stored notebooks to render (default: all)")
    args = parser.parse_args(argv)
    out = build(args.out, args.notebooks, quiet=False)
    size = size_mb(out)
    print(f"built {out} ({size:.1f} MB); open {out / 'index.html'}")
    if size > SITE_LIMIT_MB:
        print(f"the site is over {SITE_LIMIT_MB} MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
