"""Give every notebook its "Open in Colab" / Binder links and its bootstrap cell: `python tools/colab.py`.

Two cells go right under each notebook's title, in its text twin notebooks/NN_name.py:

- a Markdown cell tagged `badges`: the Colab and Binder badges, linking to this notebook in the
  repository named by pyproject.toml's [project.urls] Repository (its only home);
- a code cell tagged `bootstrap` that, only where vae_lite cannot be imported (Colab, a bare
  Jupyter), clones the repository, installs vae_lite from it with pip without replacing the
  torch already there, and moves into the clone's notebooks/ folder (so data/ and
  results/ are where the notebooks expect them); on Colab it also switches on the
  custom widget manager that ipywidgets 8 needs there. Where vae_lite is installed (`make lab`,
  Binder) it does nothing.

Running it again replaces the two cells, so it is idempotent. It edits only the twins: rebuild
the notebooks afterwards (`make notebooks`).

    python tools/colab.py            # every notebook
    python tools/colab.py 01 07      # the ones whose names start so
    python tools/colab.py --check    # exit 1 if any twin lacks the current cells
"""

import argparse
import re
import sys
import tomllib
from pathlib import Path
from urllib.parse import quote

import jupytext
import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_notebooks import NOTEBOOKS, twin_text, twins, write_atomically  # noqa: E402

ROOT = NOTEBOOKS.parent
BRANCH = "main"
TAGS = {"badges", "bootstrap"}

BOOTSTRAP = '''\
# Colab, or a Jupyter without vae_lite: install vae_lite from the repository (keeping the torch that
# is already there) and, on Colab, switch on the widget manager ipywidgets 8 needs. Elsewhere
# (`make lab`, Binder) this cell does nothing.
import importlib.util, os, subprocess, sys, tempfile

if importlib.util.find_spec("vae_lite") is None:
    repository = os.environ.get("VAE_LITE_REPOSITORY", "{repository}")
    clone = os.path.abspath("..")  # a bare Jupyter started inside a clone: install that clone
    if not os.path.isfile(os.path.join(clone, "vae_lite", "__init__.py")):
        clone = os.path.abspath("vae_lite")  # Colab: clone the repository into the current folder
    if not os.path.isdir(clone):
        subprocess.run(["git", "clone", "--quiet", "--depth=1", repository, clone], check=True)
    keep_torch = []
    if importlib.util.find_spec("torch") is not None:  # pip must not swap it for another build
        from importlib.metadata import version
        constraint = os.path.join(tempfile.gettempdir(), "vae_lite-keep-torch.txt")
        with open(constraint, "w") as f:
            f.write(f"torch=={{version('torch')}}\\n")
        keep_torch = ["--constraint", constraint]
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *keep_torch, "--editable", clone],
                   check=True)
    sys.path.insert(0, clone)  # importable in this kernel without a restart
if os.path.isfile(os.path.join("vae_lite", "notebooks", "jupytext.toml")):  # also after a restart
    os.chdir(os.path.join("vae_lite", "notebooks"))  # into the clone: data/ and benchmarks/ are there
if "google.colab" in sys.modules:
    from google.colab import output
    output.enable_custom_widget_manager()
'''


def repository():
    """The repository's public address, from pyproject.toml's [project.urls] Repository."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    url = project.get("urls", {}).get("Repository", "")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        sys.exit(f"pyproject.toml [project.urls] Repository must be https://github.com/OWNER/NAME "
                 f"(Colab and Binder open notebooks from GitHub); got {url!r}")
    return url


def badges(url, notebook):
    """Markdown for the two badges that open `notebook` (e.g. 01_autoencoder.ipynb) from `url`."""
    github = url.removeprefix("https://github.com/")
    path = f"notebooks/{notebook}"
    colab = f"https://colab.research.google.com/github/{github}/blob/{BRANCH}/{path}"
    binder = f"https://mybinder.org/v2/gh/{github}/{BRANCH}?labpath={quote(path, safe='')}"
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab}) "
            f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder})")


def with_colab_cells(nb, notebook, url):
    """The notebook with its badges and bootstrap cells (re)placed right under the title cell."""
    cells = [c for c in nb.cells if not TAGS & set(c.metadata.get("tags", []))]
    hidden = {"jupyter": {"source_hidden": True}}  # set-up plumbing: collapsed, so the projector shows the lesson
    added = [nbformat.v4.new_markdown_cell(badges(url, notebook), metadata={"tags": ["badges"]}),
             nbformat.v4.new_code_cell(BOOTSTRAP.format(repository=url).rstrip("\n"),
                                       metadata={"tags": ["bootstrap"], **hidden})]
    nb.cells = cells[:1] + added + cells[1:]
    return nb


README = ROOT / "README.md"
README_MARKERS = ("<!-- badges: written by tools/colab.py -->\n", "\n<!-- /badges -->")


def readme_with_badges(text, url):
    """README.md's badge block (between its markers) opening the first notebook."""
    start, end = README_MARKERS
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}{badges(url, twins()[0].with_suffix('.ipynb').name)}{end}{tail}"


def refresh(py_path, url, write=True):
    """Put the current cells into the twin at `py_path`; True if that changed it."""
    text = twin_text(with_colab_cells(jupytext.read(py_path), py_path.with_suffix(".ipynb").name, url))
    if py_path.read_text() == text:
        return False
    if write:
        write_atomically(text, py_path)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="notebook name prefixes, e.g. 01 07")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a twin would change")
    args = parser.parse_args(argv)
    url = repository()
    stale = [p.name for p in twins(args.prefixes) if refresh(p, url, write=not args.check)]
    readme = readme_with_badges(README.read_text(), url)
    if readme != README.read_text():
        stale.append(README.name)
        if not args.check:
            write_atomically(readme, README)
    for name in stale:
        print(f"{name}: {'lacks the current Colab cells' if args.check else 'Colab cells written'}")
    if args.check and stale:
        sys.exit(1)


if __name__ == "__main__":
    main()
