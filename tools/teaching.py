"""Refresh the timings table in TEACHING.md: class time from the notebooks, compute time measured.

    python benchmarks/notebooks.py --out results/notebooks.json   # measure compute (long)
    python tools/teaching.py                                                 # then rewrite the table
    python tools/teaching.py --show                                          # class time, itemised
    python tools/teaching.py --sections 04                                   # the Optional part's sections

Class time is estimated from each notebook's text twin, cell by cell (CLASS_PACE):

    minutes = prose words / 65  +  code lines / 6.5  +  2.5 per "Predict, then run"
              + each exercise's stated minutes  +  compute seconds / 60

that is, prose read aloud and explained at 65 words a minute, code shown, run and discussed at
6.5 lines a minute (solution cells are collapsed and not counted), two and a half minutes to ask
the room before a prediction cell, exercises at the minutes they state ("**Exercise 2 (10 min).**").
Everything after a heading "## Optional" is outside the core path and is counted apart.

The pace is calibrated on teachers' estimates: eleven lecturers, each reading one notebook for a
class, put the room time of the eleven cores at 713 minutes in all; this pace gives 696 on the
same notebooks (80 words and 8 lines a minute, the pace before, gave 590).

The table sits between the markers <!-- timings --> and <!-- /timings -->; nothing else in
TEACHING.md is touched. tests/test_install.py checks that the table is the one this writes.
"""

import argparse
import json
import re
import sys
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "TEACHING.md"
RESULTS = ROOT / "results" / "notebooks.json"
START, END = "<!-- timings -->", "<!-- /timings -->"
NOTEBOOKS = ROOT / "notebooks"
CLASS_PACE = dict(words_per_minute=65, code_lines_per_minute=6.5, minutes_per_prediction=2.5)
CORE_MINUTES = 60  # a notebook's core path fits one class
OPTIONAL = re.compile(r"^## Optional", re.MULTILINE)
EXERCISE = re.compile(r"\*\*Exercise[^*]*?\((\d+) min\)")


def class_minutes(twin, compute_seconds=0.0):
    """Estimated class minutes of the notebook whose text twin is `twin`: {"core": ..., "optional": ...,
    and the core path's parts}. Exercises without stated minutes count 0 (a test requires minutes)."""
    parts = {path: dict(prose=0.0, code=0.0, predictions=0.0, exercises=0.0) for path in ("core", "optional")}
    path = "core"
    for cell in taught_cells(twin):
        if cell.cell_type == "markdown" and OPTIONAL.search(cell.source):
            path = "optional"
        for part, minutes in cell_parts(cell).items():
            parts[path][part] += minutes
    core = dict(parts["core"], compute=compute_seconds / 60)
    return {"core": sum(core.values()), "optional": sum(parts["optional"].values()), **core}


def taught_cells(twin):
    """The cells a teacher shows: not the badges, the bootstrap or the (collapsed) solutions."""
    return [cell for cell in jupytext.read(twin).cells
            if not {"badges", "bootstrap", "solution"} & set(cell.metadata.get("tags", []))]


def cell_parts(cell):
    """One cell's class minutes at CLASS_PACE, by part."""
    if cell.cell_type == "markdown":
        return dict(prose=len(cell.source.split()) / CLASS_PACE["words_per_minute"],
                    predictions=cell.source.count("Predict, then run") * CLASS_PACE["minutes_per_prediction"],
                    exercises=sum(int(m) for m in EXERCISE.findall(cell.source)))
    if cell.cell_type == "code":
        return dict(code=len([line for line in cell.source.splitlines() if line.strip()])
                    / CLASS_PACE["code_lines_per_minute"])
    return {}


def optional_sections(twin):
    """[(heading, minutes)] for each heading (## or ###) of the Optional part, in order: the minutes
    from that heading to the next one, at CLASS_PACE."""
    sections, inside = [], False
    for cell in taught_cells(twin):
        heading = re.match(r"#{2,3} (.+)", cell.source) if cell.cell_type == "markdown" else None
        inside = inside or (cell.cell_type == "markdown" and bool(OPTIONAL.search(cell.source)))
        if not inside:
            continue
        if heading:
            sections.append([heading.group(1).strip(), 0.0])
        sections[-1][1] += sum(cell_parts(cell).values())
    return [tuple(section) for section in sections]


def stated_optional_minutes(twin):
    """{heading: (stated, estimated)} for each Optional section that the notebook's text lists with its
    minutes, as in "- [The bound against k](#The-bound-against-k), 5 min". A listed section runs to the
    next listed one, so the sub-sections it does not list count in its minutes."""
    text = "\n".join(cell.source for cell in taught_cells(twin) if cell.cell_type == "markdown")
    stated = {anchor.replace("-", " "): int(minutes)
              for anchor, minutes in re.findall(r"\]\(#((?:[^()\s]|\([^()\s]*\))+)\)[^\n\[]*?\b(\d+) min\b", text)}
    listed = {}
    for heading, minutes in optional_sections(twin):
        key = heading.replace("-", " ")
        if key in stated:
            listed[key] = [stated[key], 0.0]
        if listed:
            listed[list(listed)[-1]][1] += minutes
    return {heading: tuple(pair) for heading, pair in listed.items()}


def table(results):
    """Markdown rows: each notebook's estimated class minutes, and its measured compute and memory."""
    rows = ["| notebook | class time, min (core path) | optional part, min | computer's share, s (2 cores) "
            "| peak memory, GB |", "|---|--:|--:|--:|--:|"]
    for twin in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py")):
        run = results["notebooks"].get(twin.with_suffix(".ipynb").name, {}).get("class") or {}
        minutes = class_minutes(twin, run.get("seconds", 0.0) if run.get("ok") else 0.0)
        optional = f"{minutes['optional']:.0f}" if minutes["optional"] else "none"
        measured = f"{run['seconds']:.0f} | {run['peak_memory_gb']:.2f}" if run.get("ok") else "not measured |"
        rows.append(f"| {twin.stem} | {minutes['core']:.0f} | {optional} | {measured} |")
    when = results.get("when", "")
    rows.append("")
    rows.append(f"Measured by `{results.get('command', 'benchmarks/notebooks.py')}`" + (f" on {when}." if when else "."))
    again = {(name.removesuffix(".ipynb"), r["run"]["command"], r["run"]["when"])
             for name, modes in results["notebooks"].items() for r in modes.values() if "run" in r}
    for name, command, when in sorted(again):  # measured again with --update after a fix
        rows[-1] += f" {name} was measured again by `{command}` on {when}."
    return "\n".join(rows)


def refreshed(text, results):
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table(results)}\n{END}{tail}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--show", action="store_true", help="print each notebook's class time, itemised")
    parser.add_argument("--sections", nargs="*", metavar="NN",
                        help="print the minutes of each section of the Optional part (of notebooks NN, or all)")
    args = parser.parse_args(argv)
    if args.sections is not None:
        for twin in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py")):
            if not args.sections or twin.name[:2] in args.sections:
                print(twin.stem)
                for heading, minutes in optional_sections(twin):
                    print(f"  {minutes:5.1f}  #{heading.replace(' ', '-')}")
        return
    results = json.loads(RESULTS.read_text())
    if args.show:
        for twin in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py")):
            run = results["notebooks"].get(twin.with_suffix(".ipynb").name, {}).get("class") or {}
            minutes = class_minutes(twin, run.get("seconds", 0.0) if run.get("ok") else 0.0)
            print(f"{twin.stem:28s} " + "  ".join(f"{k} {v:5.1f}" for k, v in minutes.items()))
        return
    text = GUIDE.read_text()
    new = refreshed(text, results)
    if new != text:
        GUIDE.write_text(new)
        print(f"{GUIDE.name}: timings refreshed from {RESULTS.relative_to(ROOT)}")
    else:
        print(f"{GUIDE.name}: timings already current")


if __name__ == "__main__":
    sys.exit(main())
