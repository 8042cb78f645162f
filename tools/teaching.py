"""Refresh the timings table in TEACHING.md from benchmarks/results/notebooks.json.

    python benchmarks/notebooks.py --out benchmarks/results/notebooks.json   # measure (long)
    python tools/teaching.py                                                 # then rewrite the table

The table sits between the markers <!-- timings --> and <!-- /timings -->; nothing else in
TEACHING.md is touched. tests/test_install.py checks that the table is the one this writes.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "TEACHING.md"
RESULTS = ROOT / "benchmarks" / "results" / "notebooks.json"
START, END = "<!-- timings -->", "<!-- /timings -->"


def table(results):
    """Markdown rows: each notebook's class-mode seconds and peak memory, as measured."""
    rows = ["| notebook | class mode, s (2 cores) | peak memory, GB |", "|---|--:|--:|"]
    for name, modes in sorted(results["notebooks"].items()):
        run = modes.get("class") or {}
        if run.get("ok"):
            rows.append(f"| {name.removesuffix('.ipynb')} | {run['seconds']:.0f} | {run['peak_memory_gb']:.2f} |")
        else:
            rows.append(f"| {name.removesuffix('.ipynb')} | not measured | |")
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


def main():
    results = json.loads(RESULTS.read_text())
    text = GUIDE.read_text()
    new = refreshed(text, results)
    if new != text:
        GUIDE.write_text(new)
        print(f"{GUIDE.name}: timings refreshed from {RESULTS.relative_to(ROOT)}")
    else:
        print(f"{GUIDE.name}: timings already current")


if __name__ == "__main__":
    sys.exit(main())
