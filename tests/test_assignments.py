"""make assignments (tools/assignments.py): the nbgrader course built from the notebooks, released and
graded by real nbgrader in a temporary course folder."""

import contextlib
import html
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from nbgrader.api import Gradebook

import vae_lite.check
from vae_lite import symbolic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import assignments  # noqa: E402

# The third student's answers: a KL with sigma in place of sigma^2, and the KL of two Gaussians the wrong
# way round, KL(p || q), keyed by the checker that marks each exercise: (the answer cell's code, the words
# with which that checker names the mistake). Both are in one notebook: each autograded notebook costs a
# kernel's full quick run, and one notebook shows partial marks and feedback as well as two would. If an
# exercise's function is renamed in its notebook, change its line here.
MISTAKES = {
    "kl_closed_form": ("def kl_closed_form(mu, logvar):\n"
                       "    sigma = (0.5 * logvar).exp()\n"
                       "    return 0.5 * (mu.pow(2) + sigma - sigma.log() - 1).sum(dim=-1)\n",
                       "you used sigma where sigma^2 belongs"),
    "kl_two_gaussians": ("def kl_two_gaussians(mu_q, logvar_q, mu_p, logvar_p):\n"
                         "    return 0.5 * (logvar_q - logvar_p - 1 + (logvar_p.exp() + (mu_p - mu_q) ** 2)\n"
                         "                  / logvar_q.exp()).sum(dim=-1)\n\n\n"
                         "by_hand = sp.log(sigma_q / sigma_p) + (sigma_p**2 + (mu_p - mu_q) ** 2) / (2 * sigma_q**2) - sp.Rational(1, 2)\n",
                         "this is KL(p || q)"),
}
STUDENTS = ("solutions", "unchanged", "mistakes")


def all_exercises():
    return [e for path in assignments.twins() for e in assignments.exercises(path)]


def run_nbgrader(course, *args):
    """Run an nbgrader command in the course folder; the notebooks run in quick mode, as in CI."""
    env = {**assignments._environment(), "VAE_LITE_QUICK": "1"}
    done = subprocess.run(["nbgrader", *args, "--log-level=WARN"], cwd=course, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


# ----------------------------------------------------------------------------- exercises and points


def test_every_exercise_of_the_notebooks_is_found_with_its_solution():
    found = all_exercises()
    # independently of the parser: every stub cell of a notebook calls a checker and says "your code here"
    stubs = sum(1 for path in assignments.twins() for cell in jupytext.read(path).cells
                if cell.cell_type == "code" and not assignments.is_solution(cell)
                and re.search(r"raise NotImplementedError", cell.source) and re.search(r"\bcheck\.\w+\(", cell.source))
    assert found and len(found) == stubs
    for e in found:
        assert callable(getattr(vae_lite.check, e.checker))
        assert "NotImplementedError" in e.stub and e.call not in e.stub
        assert "NotImplementedError" not in e.solution and f"check.{e.checker}(" not in e.solution


def test_points_table_has_exactly_one_entry_per_autograded_exercise():
    assignments.check_points(all_exercises(), assignments.load_points())


def test_points_check_names_the_line_to_add_and_the_line_to_remove():
    points = assignments.load_points()
    del points["04_closed_form_kl"]["kl_closed_form"]
    points["05_vae"]["vae_loss_of_old"] = 2
    with pytest.raises(assignments.ExerciseError) as error:
        assignments.check_points(all_exercises(), points)
    assert 'add `kl_closed_form = <points>` under ["04_closed_form_kl"]' in str(error.value)
    assert 'remove `vae_loss_of_old` from ["05_vae"]' in str(error.value)
    points = assignments.load_points()
    points["05_vae"]["vae_loss"] = 0
    with pytest.raises(assignments.ExerciseError, match="positive"):
        assignments.check_points(all_exercises(), points)


def test_a_stub_without_a_solution_after_it_is_refused(tmp_path):
    twin = tmp_path / "99_broken.py"
    twin.write_text("# %%\nfrom vae_lite import check\n\n# %%\ndef kl_closed_form(mu, logvar):\n"
                    "    raise NotImplementedError  # your code here\n\n\ncheck.kl_closed_form(kl_closed_form);\n")
    with pytest.raises(assignments.ExerciseError, match="must be followed by its solution"):
        assignments.exercises(twin)


# ----------------------------------------------------------------------------- the release


def solution_lines(py_path):
    """The distinctive lines of a notebook's solutions: each line of a `solution` cell that appears
    nowhere else in the notebook (checker calls are public: the grade cells show them)."""
    cells = jupytext.read(py_path).cells
    public = "\n".join(c.source for c in cells if not assignments.is_solution(c))
    lines = {line.strip() for c in cells if assignments.is_solution(c) for line in c.source.splitlines()}
    return {line for line in lines if len(line) > 3 and line not in public and "check." not in line}


def leaks(release_notebook, lines):
    """The lines of `lines` that occur anywhere in a released notebook: its cells or outputs."""
    text = "\n".join(json.dumps(cell.get("outputs", [])) + "\n" + cell.source
                     for cell in nbformat.read(release_notebook, as_version=4).cells)
    return sorted(line for line in lines if line in text)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course of every notebook, released by nbgrader."""
    out = tmp_path_factory.mktemp("course")
    assignments.build(out=out)
    return out


def released(course, name):
    return course / "release" / name / f"{name}.ipynb"


@pytest.mark.slow  # builds the nbgrader release (about 20 s)
def test_the_release_keeps_each_stub_and_a_locked_grade_cell_with_the_table_points(course):
    points = assignments.load_points()
    for e in all_exercises():
        cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c
                 for c in nbformat.read(released(course, e.notebook), as_version=4).cells}
        answer, grade = cells[f"{e.checker}-answer"], cells[e.checker]
        assert answer.source.strip() == e.stub.strip() and answer.metadata.nbgrader["solution"]
        assert grade.source.startswith(f"assert {e.call}, ")
        assert grade.metadata.nbgrader["locked"] and grade.metadata.nbgrader["points"] == points[e.notebook][e.checker]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for name, table in points.items():
            assert gradebook.find_assignment(name).max_score == sum(table.values())


@pytest.mark.slow  # builds the nbgrader release (about 20 s)
def test_no_solution_line_appears_in_the_release(course):
    checked = 0
    for path in assignments.twins():
        lines = solution_lines(path)
        checked += len(lines)
        assert not leaks(released(course, path.stem), lines), f"{path.stem}: solution lines in the release"
        assert assignments.BEGIN not in released(course, path.stem).read_text()
    assert checked > 50  # every notebook has solutions: the check has something to find


@pytest.mark.slow  # builds the nbgrader release (about 20 s)
def test_a_solution_line_planted_in_the_release_is_found(course, tmp_path):
    path = next(p for p in assignments.twins() if p.stem.startswith("04"))
    line = "return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=-1)"
    assert line in solution_lines(path)
    nb = nbformat.read(released(course, path.stem), as_version=4)
    nb.cells[-1].source += f"\n`{line}`"
    planted = tmp_path / "planted.ipynb"
    nbformat.write(nb, planted)
    assert leaks(planted, solution_lines(path)) == [line]


# ----------------------------------------------------------------------------- three students, graded


def checker_output(checker, code):
    """What `checker` prints, and returns, for the function that `code` defines (and its `by_hand`
    result, if it sets one), run with the names the notebook's earlier cells define."""
    namespace = {"torch": torch, "F": F, "math": math, "sp": sp, "mu_q": symbolic.mu_q, "sigma_q": symbolic.sigma_q,
                 "mu_p": sp.Symbol("mu_p", real=True), "sigma_p": sp.Symbol("sigma_p", positive=True)}
    exec(code, namespace)
    by_hand = {"by_hand": namespace["by_hand"]} if "by_hand" in namespace else {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = getattr(vae_lite.check, checker)(namespace[code.split("(")[0].removeprefix("def ")], **by_hand)
    return result, out.getvalue()


def test_each_mistake_is_one_its_checker_names():
    for checker, (code, words) in MISTAKES.items():
        result, printed = checker_output(checker, code)
        assert result is False and words in printed, printed


def submit(course, student, name, answer):
    """Copy the release of assignment `name` into submitted/<student>/, with each answer cell's source
    replaced by answer(grade_id, source cell)."""
    source = {c.metadata.nbgrader["grade_id"]: c for c in nbformat.read(
        course / "source" / name / f"{name}.ipynb", as_version=4).cells if "nbgrader" in c.metadata}
    nb = nbformat.read(released(course, name), as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = answer(meta["grade_id"].removesuffix("-answer"), source[meta["grade_id"]])
    folder = course / "submitted" / student / name
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{name}.ipynb")


def solved(cell):
    return "\n".join(line for line in cell.source.splitlines()
                     if line.strip() not in (assignments.BEGIN, assignments.END))


def quickest(names):
    """Of these assignments, the one whose notebook ran quickest in quick mode (results/notebooks.json)."""
    seconds = json.loads((ROOT / "results" / "notebooks.json").read_text())["notebooks"]
    return min(sorted(names), key=lambda name: seconds.get(f"{name}.ipynb", {}).get("quick", {}).get("seconds", math.inf))


@pytest.fixture(scope="module")
def graded(course):
    """The notebooks of MISTAKES' exercises, submitted by three students, autograded, with feedback:
    returns ({assignment: exercises}, {student: {assignment: {grade id: (score, max score)}}}).

    The unchanged release is submitted for one notebook only, the one with exercises that runs
    quickest in quick mode (results/notebooks.json): an unchanged stub scores zero alike in every
    notebook (the student edition's run checks that every checker says "not attempted yet"), and
    each autograded notebook costs a kernel's full quick run."""
    where = {e.checker: e.notebook for e in all_exercises()}
    missing = sorted(set(MISTAKES) - set(where))
    assert not missing, f"no notebook has an exercise marked by {missing}: update MISTAKES (tests/test_assignments.py)"
    names = sorted({where[c] for c in MISTAKES})
    answers = {
        "solutions": lambda checker, cell: solved(cell),
        "unchanged": None,
        "mistakes": lambda checker, cell: MISTAKES[checker][0] if checker in MISTAKES else solved(cell),
    }
    submitted = {student: [quickest(set(where.values()))] if answer is None else names
                 for student, answer in answers.items()}
    for student, answer in answers.items():
        for name in submitted[student]:
            if answer is None:
                folder = course / "submitted" / student / name
                folder.mkdir(parents=True, exist_ok=True)
                nbformat.write(nbformat.read(released(course, name), as_version=4), folder / f"{name}.ipynb")
            else:
                submit(course, student, name, answer)
    run_nbgrader(course, "autograde", "*", "--create", "--force")  # every assignment submitted: one nbgrader start
    run_nbgrader(course, "generate_feedback", "*", "--force")
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in STUDENTS:
            for name in submitted[student]:
                notebook = gradebook.find_submission_notebook(name, name, student)
                scores.setdefault(student, {})[name] = {g.name: (g.score, g.max_score) for g in notebook.grades}
    return names, scores


@pytest.mark.slow
def test_the_solutions_get_full_marks(graded):
    names, scores = graded
    for name in names:
        grades = scores["solutions"][name]
        assert grades and all(score == maximum > 0 for score, maximum in grades.values()), (name, grades)


@pytest.mark.slow
def test_the_unchanged_release_gets_zero_and_is_graded(graded):
    names, scores = graded
    assert len(scores["unchanged"]) == 1
    for name in scores["unchanged"]:
        grades = scores["unchanged"][name]
        assert grades and all(score == 0 for score, _ in grades.values()), (name, grades)


@pytest.mark.slow
def test_the_two_mistakes_lose_exactly_their_points_and_the_feedback_names_them(graded, course):
    names, scores = graded
    points = assignments.load_points()
    where = {e.checker: e.notebook for e in all_exercises()}
    total = sum(sum(points[name].values()) for name in names)
    got = sum(score for name in names for score, _ in scores["mistakes"][name].values())
    assert got == total - sum(points[where[c]][c] for c in MISTAKES)
    for name in names:
        for checker, (score, maximum) in scores["mistakes"][name].items():
            assert score == (0 if checker in MISTAKES else maximum), (name, checker, score)
    for checker, (_, words) in MISTAKES.items():
        feedback = course / "feedback" / "mistakes" / where[checker] / f"{where[checker]}.html"
        assert words in html.unescape(feedback.read_text()), f"{feedback} does not say {words!r}"
