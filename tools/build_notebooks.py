"""Execute the notebooks and store them with their outputs: `make notebooks`.

Each notebook's source of truth is its text twin notebooks/NN_name.py (jupytext
py:percent), which reviews as a plain diff. This script turns the twin into
NN_name.ipynb, runs it top to bottom in class mode (VAE_LITE_QUICK unset) and writes
the executed notebook atomically; a cell that fails leaves the old .ipynb untouched.

    python tools/build_notebooks.py                 # every notebook
    python tools/build_notebooks.py 05 06           # the ones whose names start so
    python tools/build_notebooks.py --quick 01      # run in quick mode, write nothing
"""

import argparse
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def twins(prefixes=()):
    """The notebooks' text twins, NN_*.py, in order, filtered by name prefixes."""
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    return [p for p in paths if not prefixes or any(p.name.startswith(x) for x in prefixes)]


def execute(py_path, quick=False, timeout=900):
    nb = jupytext.read(py_path)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"  # stable ids keep diffs of the .ipynb small
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    os.environ["VAE_LITE_QUICK"] = "1" if quick else "0"
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(py_path.parent)}})
    client.execute()
    return nb


def write_atomically(nb, path):
    tmp = path.with_name(f".{path.name}.part")
    try:
        nbformat.write(nb, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="notebook name prefixes, e.g. 01 05")
    parser.add_argument("--quick", action="store_true", help="run in quick mode and write nothing")
    args = parser.parse_args(argv)
    paths = twins(args.prefixes)
    if not paths:
        sys.exit(f"no notebook twin matches {args.prefixes} in {NOTEBOOKS}")
    for py_path in paths:
        start = time.perf_counter()
        nb = execute(py_path, quick=args.quick)
        seconds = time.perf_counter() - start
        mode = "quick" if args.quick else "class"
        if not args.quick:
            write_atomically(nb, py_path.with_suffix(".ipynb"))
        print(f"{py_path.with_suffix('.ipynb').name}: {mode} mode, {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
