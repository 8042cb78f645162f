"""Execute the notebooks and store them with their outputs: `make notebooks`.

Each notebook's source of truth is its text twin notebooks/NN_name.py (jupytext
py:percent), which reviews as a plain diff. This script turns the twin into
NN_name.ipynb, runs it top to bottom in class mode (VAE_LITE_QUICK unset) and writes
the executed notebook atomically; a cell that fails leaves the old .ipynb untouched.
It then rewrites the twin as jupytext itself writes it from the stored notebook, so the
pair is byte-identical to jupytext's round trip and JupyterLab opens it whatever the
files' modification times (tests/test_notebooks.py checks both).

    python tools/build_notebooks.py                 # every notebook
    python tools/build_notebooks.py 05 06           # the ones whose names start so
    python tools/build_notebooks.py --quick 01      # run in quick mode, write nothing
    python tools/build_notebooks.py --twins-only    # only rewrite the twins as jupytext would
"""

import argparse
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from jupytext.config import load_jupytext_config
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def twins(prefixes=()):
    """The notebooks' text twins, NN_*.py, in order, filtered by name prefixes."""
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    return [p for p in paths if not prefixes or any(p.name.startswith(x) for x in prefixes)]


def execute(py_path, quick=False, timeout=1800):
    nb = jupytext.read(py_path)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"  # stable ids keep diffs of the .ipynb small
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    os.environ["VAE_LITE_QUICK"] = "1" if quick else "0"
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(py_path.parent)}})
    client.execute()
    return nb


def twin_text(nb):
    """The text twin exactly as jupytext writes it from the stored .ipynb (as JupyterLab would).

    nbformat stores cell metadata with sorted keys, so a twin written by hand with
    `tags=... jupyter=...` comes back as `jupyter=... tags=...`: going through the stored
    form first makes the twin the one jupytext's own round trip gives.
    """
    stored = nbformat.reads(nbformat.writes(nb), as_version=4)
    return jupytext.writes(stored, "py:percent", config=load_jupytext_config(str(NOTEBOOKS)))


def write_atomically(content, path):
    """Write a notebook (or text) to `path` through a temporary file, so no half-written file remains."""
    tmp = path.with_name(f".{path.name}.part")
    try:
        if isinstance(content, str):
            tmp.write_text(content)
        else:
            nbformat.write(content, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_twin(nb, py_path):
    """Rewrite the twin if jupytext would write it differently; True when it changed."""
    text = twin_text(nb)
    if py_path.read_text() == text:
        return False
    write_atomically(text, py_path)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="notebook name prefixes, e.g. 01 05")
    parser.add_argument("--quick", action="store_true", help="run in quick mode and write nothing")
    parser.add_argument("--twins-only", action="store_true",
                        help="execute nothing; rewrite each twin as jupytext writes it")
    args = parser.parse_args(argv)
    paths = twins(args.prefixes)
    if not paths:
        sys.exit(f"no notebook twin matches {args.prefixes} in {NOTEBOOKS}")
    if args.twins_only:
        for py_path in paths:
            changed = write_twin(jupytext.read(py_path), py_path)
            print(f"{py_path.name}: {'rewritten' if changed else 'already as jupytext writes it'}")
        return
    for py_path in paths:
        start = time.perf_counter()
        nb = execute(py_path, quick=args.quick)
        seconds = time.perf_counter() - start
        mode = "quick" if args.quick else "class"
        if not args.quick:
            write_atomically(nb, py_path.with_suffix(".ipynb"))
            write_twin(nb, py_path)
        print(f"{py_path.with_suffix('.ipynb').name}: {mode} mode, {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
