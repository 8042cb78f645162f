"""Build the nbgrader course from the notebooks: `make assignments` -> build/course/.

Each notebook becomes an assignment of one notebook, source/NN_name/NN_name.ipynb, made from its
jupytext twin; then `nbgrader generate_assignment` writes the student version, release/NN_name/.

An autograded exercise is found, not listed: a code cell that calls a checker of vae_lite.check
and still raises NotImplementedError (the stub), followed by a cell tagged `solution` that asserts
the same checker. In the nbgrader notebook it becomes two cells:

  answer  "<checker>-answer", an autograded answer cell: the stub without its checker call, then
          the solution between ### BEGIN SOLUTION and ### END SOLUTION. The release keeps the
          stub, exactly as the student edition (`make student`) shows it.
  grade   "<checker>", a locked grade cell, `assert <the notebook's checker call>`, worth the points
          that class/points.toml gives. A wrong answer prints the checker's lines (what failed and
          which known mistake it matches) above the AssertionError, in the notebook and in
          nbgrader's feedback.

The other solution cells (questions to discuss, checked by no checker) are dropped, as `make
student` drops them: nbgrader would need them graded by hand, and their solutions are the
instructor's explorations, not answers a student writes in one cell.

    python tools/assignments.py                  # every notebook into build/course/
    python tools/assignments.py 04 05 --out DIR  # some notebooks, another course folder
"""

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_notebooks import NOTEBOOKS, twins, write_atomically  # noqa: E402

ROOT = NOTEBOOKS.parent
CLASS = ROOT / "class"
POINTS = CLASS / "points.toml"
OUT = ROOT / "build" / "course"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


class ExerciseError(ValueError):
    """An exercise that cannot be turned into nbgrader cells, or points that do not match the exercises."""


@dataclass
class Exercise:
    notebook: str  # the twin's stem, e.g. "04_closed_form_kl"
    checker: str  # the vae_lite.check function that marks it, e.g. "kl_closed_form"
    call: str  # the notebook's checker call, e.g. "check.kl_closed_form(kl_closed_form)"
    stub: str  # the stub cell's code without the call
    solution: str  # the solution cell's code without its checker assert
    stub_index: int  # cell indices in the twin
    solution_index: int


def is_solution(cell):
    return "solution" in cell.metadata.get("tags", [])


def _checker_calls(tree, source):
    """(statement, call source, checker name) for each top-level statement that calls a checker
    as check.NAME(...) or vae_lite.check.NAME(...), alone or in an assert."""
    import vae_lite.check

    found = []
    for statement in tree.body:
        call = statement.test if isinstance(statement, ast.Assert) else getattr(statement, "value", None)
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
            continue
        owner = ast.unparse(call.func.value)
        if owner in ("check", "vae_lite.check") and callable(getattr(vae_lite.check, call.func.attr, None)):
            found.append((statement, ast.get_source_segment(source, call), call.func.attr))
    return found


def _raises_not_implemented(tree):
    return any(isinstance(node, ast.Raise) and node.exc is not None
               and "NotImplementedError" in ast.unparse(node.exc) for node in ast.walk(tree))


def _parse(cell):
    try:
        return ast.parse(cell.source)
    except SyntaxError:  # a cell with IPython magics: no exercise
        return None


def _without(source, statements):
    """`source` without the lines of `statements` and without nbval's directives, stripped."""
    drop = {n for s in statements for n in range(s.lineno, s.end_lineno + 1)}
    lines = [line for n, line in enumerate(source.splitlines(), 1)
             if n not in drop and not line.lstrip().startswith("# NBVAL_")]
    return "\n".join(lines).strip("\n")


def exercises(py_path):
    """The autograded exercises of the notebook whose twin is `py_path`, in order."""
    nb = jupytext.read(py_path)
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or is_solution(cell) or (tree := _parse(cell)) is None:
            continue
        calls = [c for c in _checker_calls(tree, cell.source) if not isinstance(c[0], ast.Assert)]
        if not calls or not _raises_not_implemented(tree):
            continue
        where = f"{py_path.name}, cell {i}"
        if len(calls) > 1:
            raise ExerciseError(f"{where}: one exercise per cell, but it calls {len(calls)} checkers; split it")
        statement, call, checker = calls[0]
        following = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
        if following is None or not is_solution(following):
            raise ExerciseError(f"{where}: the stub for {checker} must be followed by its solution, "
                                "a code cell tagged `solution`")
        asserts = [c for c in _checker_calls(_parse(following) or ast.parse(""), following.source)
                   if isinstance(c[0], ast.Assert) and c[2] == checker]
        if not asserts:
            raise ExerciseError(f"{where}: the solution cell after the stub must `assert` the checker "
                                f"{checker}(...), so that the solution is known to pass it")
        found.append(Exercise(py_path.stem, checker, call, _without(cell.source, [statement]),
                              _without(following.source, [a[0] for a in asserts]), i, i + 1))
    names = [e.checker for e in found]
    if len(set(names)) < len(names):
        raise ExerciseError(f"{py_path.name}: a checker marks two exercises ({names}); nbgrader needs one grade id each")
    return found


def load_points(path=POINTS):
    return tomllib.loads(Path(path).read_text())


def check_points(all_exercises, points):
    """Raise ExerciseError unless `points` ({notebook: {checker: points}}) has exactly one positive
    number for each exercise; the message names each line to add or to remove."""
    wanted = {(e.notebook, e.checker) for e in all_exercises}
    given = {(nb, checker) for nb, table in points.items() for checker in table}
    problems = [f"add `{c} = <points>` under [\"{nb}\"]: {nb} has an autograded exercise marked by "
                f"vae_lite.check.{c}" for nb, c in sorted(wanted - given)]
    problems += [f"remove `{c}` from [\"{nb}\"]: no exercise of {nb} is marked by vae_lite.check.{c}"
                 for nb, c in sorted(given - wanted)]
    problems += [f"[\"{nb}\"] {c} = {points[nb][c]!r}: points must be a positive number"
                 for nb, c in sorted(wanted & given)
                 if isinstance(points[nb][c], bool) or not isinstance(points[nb][c], (int, float)) or points[nb][c] <= 0]
    if problems:
        raise ExerciseError(f"{POINTS.relative_to(ROOT)} does not match the notebooks:\n  " + "\n  ".join(problems))


def _nbgrader(cell_id, *, grade, solution, points=None):
    meta = {"grade": grade, "grade_id": cell_id, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook(py_path, points):
    """The instructor's nbgrader notebook of the twin at `py_path` (points: {checker: points})."""
    nb = jupytext.read(py_path)
    by_stub = {e.stub_index: e for e in exercises(py_path)}
    solutions = {e.solution_index for e in by_stub.values()}
    cells = []
    for i, cell in enumerate(nb.cells):
        if i in by_stub:
            e = by_stub[i]
            answer = f"{e.stub}\n{BEGIN}\n{e.solution}\n{END}"
            grade = f"assert {e.call}, \"{e.checker}: not every case passed (the checker's lines above say which)\""
            cells += [nbformat.v4.new_code_cell(answer, metadata=_nbgrader(f"{e.checker}-answer", grade=False, solution=True)),
                      nbformat.v4.new_code_cell(grade, metadata=_nbgrader(e.checker, grade=True, solution=False,
                                                                          points=points[e.checker]))]
        elif i in solutions or is_solution(cell):
            continue  # a solution with no checker: a question to discuss (see the module docstring)
        else:
            cells.append(cell)
    for i, cell in enumerate(cells):
        cell.id = f"cell-{i:02d}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata.pop("jupytext", None)

    from nbgrader.nbgraderformat import MetadataValidator

    MetadataValidator().validate_nb(nb)  # nbgrader's own check of the cells' metadata
    return nb


def build(prefixes=(), out=OUT, release=True, points_path=POINTS):
    """Write the course's source notebooks (and, with release, nbgrader's release) into `out`;
    return the assignment names."""
    paths = twins(prefixes)
    if not paths:
        raise ExerciseError(f"no notebook twin matches {list(prefixes)} in {NOTEBOOKS}")
    points = load_points(points_path)
    check_points([e for p in twins() for e in exercises(p)], points)  # every notebook, built or not
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CLASS / "nbgrader_config.py", out / "nbgrader_config.py")
    names = []
    for py_path in paths:
        name = py_path.stem
        folder = out / "source" / name
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(source_notebook(py_path, points.get(name, {})), folder / f"{name}.ipynb")
        names.append(name)
        print(f"{folder}: {len(exercises(py_path))} autograded exercise(s)", flush=True)
    if release:
        # nbgrader itself removes the solution regions, locks the grade cells and records their
        # checksums in the gradebook; "*" does every assignment of source/ in one run
        subprocess.run(["nbgrader", "generate_assignment", "*", "--force", "--log-level=WARN"], cwd=out,
                       check=True, env=_environment())
        print(f"{out / 'release'}: nbgrader generate_assignment", flush=True)
    return names


def _environment():
    """os.environ with this Python's scripts first on PATH: nbgrader, and the `alembic` that nbgrader
    runs to set up its gradebook, are found even when the environment is not activated."""
    scripts = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": os.pathsep.join([scripts, os.environ.get("PATH", "")])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="notebook name prefixes, e.g. 04 05")
    parser.add_argument("--out", type=Path, default=OUT, help=f"the course folder (default {OUT})")
    parser.add_argument("--no-release", action="store_true", help="write the source notebooks only")
    args = parser.parse_args(argv)
    try:
        return build(args.prefixes, args.out, release=not args.no_release)
    except ExerciseError as e:
        sys.exit(f"make assignments: {e}")


if __name__ == "__main__":
    main()
