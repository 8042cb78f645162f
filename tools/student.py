"""Write the student edition of the notebooks: `make student` -> build/student/NN_name.ipynb.

The committed notebooks are the instructor edition: each exercise has a stub (a function that
raises NotImplementedError, checked by vae_lite.check) followed by a collapsed solution, a cell
tagged `solution`. The student edition is made from the same text twins with every cell tagged
`solution` removed and all outputs cleared, so students see the stubs and the checkers, and
nothing of the answers. Everything else (prose, figures' code, checked cells) is unchanged.

    python tools/student.py                    # every notebook into build/student/
    python tools/student.py 05 07 --out DIR    # some notebooks, elsewhere
"""

import argparse
import sys
from pathlib import Path

import jupytext

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_notebooks import NOTEBOOKS, twins, write_atomically  # noqa: E402

OUT = NOTEBOOKS.parent / "build" / "student"


def is_solution(cell):
    return "solution" in cell.metadata.get("tags", [])


def student_edition(py_path):
    """The notebook of the twin at `py_path` without its solutions, outputs cleared."""
    nb = jupytext.read(py_path)
    nb.cells = [cell for cell in nb.cells if not is_solution(cell)]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    return nb


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="notebook name prefixes, e.g. 01 05")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    args = parser.parse_args(argv)
    paths = twins(args.prefixes)
    if not paths:
        sys.exit(f"no notebook twin matches {args.prefixes} in {NOTEBOOKS}")
    args.out.mkdir(parents=True, exist_ok=True)
    for py_path in paths:
        target = args.out / py_path.with_suffix(".ipynb").name
        write_atomically(student_edition(py_path), target)
        print(f"{target}: student edition", flush=True)
    return [args.out / p.with_suffix(".ipynb").name for p in paths]


if __name__ == "__main__":
    main()
