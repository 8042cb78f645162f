"""The stored notebooks: in step with their text twins, executed, and with checked cells.

nbval (run by `make test`) re-executes them; these checks make sure there is something
for it to compare against.
"""

import json
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PAIRS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def code_sources(nb):
    return [(c["cell_type"], "".join(c["source"]).strip()) for c in nb["cells"]]


def test_every_notebook_has_a_text_twin_and_vice_versa():
    ipynb = {p.stem for p in PAIRS}
    twins = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.py")}
    assert ipynb == twins, f"only .ipynb: {ipynb - twins}; only .py: {twins - ipynb}; run `make notebooks`"


@pytest.mark.parametrize("path", PAIRS, ids=[p.name for p in PAIRS])
def test_notebook_matches_its_text_twin(path):
    stored = json.loads(path.read_text())
    twin = jupytext.read(path.with_suffix(".py"))
    assert code_sources(stored) == code_sources(twin), \
        f"{path.name} differs from {path.with_suffix('.py').name}: run `make notebooks NB={path.name[:2]}`"


@pytest.mark.parametrize("path", PAIRS, ids=[p.name for p in PAIRS])
def test_notebook_is_stored_executed_in_order_with_checked_cells(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    counts = [c["execution_count"] for c in cells]
    assert None not in counts, f"{path.name} has cells without stored outputs: run `make notebooks`"
    assert counts == list(range(1, len(cells) + 1)), f"{path.name} was not executed top to bottom in one run"
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path.name} has stored errors: {[e['ename'] for e in errors]}"
    checked = [c for c in cells if "".join(c["source"]).lstrip().startswith("# NBVAL_CHECK_OUTPUT")]
    assert checked and all(c["outputs"] for c in checked), f"{path.name} needs checked cells with outputs"
