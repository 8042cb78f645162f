"""The stored notebooks: in step with their text twins, executed, with checked cells, and openable.

nbval (run by `make test`) re-executes them; these checks make sure there is something
for it to compare against, and that JupyterLab opens every pair whatever git did to the
files' modification times.
"""

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import pytest
from lab import free_port, get, wait_for

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
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


def test_every_link_to_a_heading_of_a_notebook_finds_the_heading():
    """A link such as 01_autoencoder.ipynb#Nats,-bits-and-the-length-of-a-code opens at that heading: JupyterLab's
    anchor is the heading's text with spaces as '-'. A heading renamed later leaves the link dead."""
    headings = {twin.stem: {line.lstrip("#").strip().replace(" ", "-")
                            for cell in jupytext.read(twin).cells if cell.cell_type == "markdown"
                            for line in cell.source.splitlines() if line.startswith("#")}
                for twin in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))}
    links = [(twin.name, target, anchor) for twin in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
             for target, anchor in re.findall(r"(\d\d_\w+)\.ipynb#([^)\s]+)", twin.read_text())]
    assert links, "the notebooks link to each other's headings: the pattern should find them"
    dead = [link for link in links if link[2] not in headings.get(link[1], ())]
    assert not dead, f"(notebook, target, anchor) with no such heading in the target: {dead}"


@pytest.mark.parametrize("path", PAIRS, ids=[p.name for p in PAIRS])
def test_notebook_is_stored_executed_in_order_with_checked_cells(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    counts = [c["execution_count"] for c in cells]
    assert None not in counts, f"{path.name} has cells without stored outputs: run `make notebooks`"
    assert counts == list(range(1, len(cells) + 1)), f"{path.name} was not executed top to bottom in one run"
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path.name} has stored errors: {[e['ename'] for e in errors]}"
    checked = [c for c in cells if "".join(c["source"]).lstrip().startswith("# NBVAL_CHECK_OUTPUT")
               or "nbval-check-output" in c.get("metadata", {}).get("tags", [])]
    assert checked and all(c["outputs"] for c in checked), f"{path.name} needs checked cells with outputs"


# ------------------------------------------------------------------ the pair as jupytext sees it

def stored_twin_text(ipynb):
    """What jupytext writes as the text twin of the stored notebook (what JupyterLab saves)."""
    from jupytext.config import load_jupytext_config

    nb = nbformat.read(ipynb, as_version=4)
    return jupytext.writes(nb, "py:percent", config=load_jupytext_config(str(NOTEBOOKS)))


@pytest.mark.parametrize("path", PAIRS, ids=[p.name for p in PAIRS])
def test_text_twin_is_byte_identical_to_jupytexts_round_trip(path):
    """Otherwise JupyterLab sees two different notebooks and, when the .ipynb is newer, refuses to open it."""
    twin = path.with_suffix(".py")
    assert twin.read_text() == stored_twin_text(path), (
        f"{twin.name} is not what jupytext writes from {path.name}: run "
        f"`python tools/build_notebooks.py --twins-only {path.name[:2]}` (or `make notebooks NB={path.name[:2]}`)")


def test_the_build_tool_writes_twins_as_jupytext_does(tmp_path):
    """A twin written by hand with `tags=... jupyter=...` comes out of the build as jupytext writes it."""
    import build_notebooks
    by_hand = ('# %%\nx = 1\n\n# %% tags=["solution"] jupyter={"source_hidden": true}\n'
               '# Solution\ny = 2\n')
    nb = jupytext.reads(by_hand, "py:percent")
    ipynb = tmp_path / "99_x.ipynb"
    nbformat.write(nb, ipynb)
    text = build_notebooks.twin_text(nb)
    assert text != by_hand and 'jupyter={"source_hidden": true} tags=["solution"]' in text
    assert text == stored_twin_text(ipynb)


@pytest.mark.slow
def test_a_notebook_newer_than_its_twin_still_opens_in_jupyterlab(tmp_path):
    """After a `git pull` that changes only the .ipynb, it is newer than its .py: it must still open.

    JupyterLab (this interpreter's) serves a copy of notebooks/ with its jupytext.toml; every .ipynb
    is made an hour newer than its twin, then fetched through the contents API.
    """
    assert PAIRS
    copy = tmp_path / "notebooks"
    copy.mkdir()
    shutil.copy2(NOTEBOOKS / "jupytext.toml", copy)
    an_hour_ago = time.time() - 3600
    for ipynb in PAIRS:
        shutil.copy2(ipynb, copy)
        shutil.copy2(ipynb.with_suffix(".py"), copy)
        os.utime(copy / ipynb.with_suffix(".py").name, (an_hour_ago, an_hour_ago))
    token, port = secrets.token_hex(8), free_port()
    env = dict(os.environ, HOME=str(tmp_path / "home"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), IPYTHONDIR=str(tmp_path / "ipython"))
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={copy}", *(["--allow-root"] if os.geteuid() == 0 else [])]
    with open(tmp_path / "lab.log", "wb") as log:
        server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/api/status?token={token}", server, tmp_path / "lab.log")
        for ipynb in PAIRS:
            status, body = get(f"{url}/api/contents/{ipynb.name}?content=1&token={token}")
            assert status == 200, f"{ipynb.name} did not open: {body[:2000]}"
            cells = json.loads(body)["content"]["cells"]
            assert code_sources({"cells": cells}) == code_sources(jupytext.read(ipynb.with_suffix(".py")))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


# ------------------------------------------------------------------ the Colab cells (tools/colab.py)

def import_tool(name):
    return __import__(name)  # tools/ is on sys.path (conftest.py)


def tagged(nb, tag):
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


def test_colab_tool_puts_badges_and_bootstrap_under_the_title_once(tmp_path):
    colab = import_tool("colab")
    source = NOTEBOOKS / "01_autoencoder.py"
    twin = tmp_path / source.name
    bare = jupytext.read(source)  # the twin as it was before the tool: without its two cells
    bare.cells = [c for c in bare.cells if not colab.TAGS & set(c.metadata.get("tags", []))]
    twin.write_text(colab.twin_text(bare))
    url = colab.repository()
    assert colab.refresh(twin, url) is True
    once = twin.read_bytes()
    assert colab.refresh(twin, url) is False and twin.read_bytes() == once, "a second run must change nothing"
    nb, original = jupytext.read(twin), bare
    assert [c.metadata.get("tags") for c in nb.cells[1:3]] == [["badges"], ["bootstrap"]]
    assert nb.cells[2].metadata["jupyter"]["source_hidden"], "the set-up cell should open collapsed"
    assert len(tagged(nb, "badges")) == 1 and len(tagged(nb, "bootstrap")) == 1
    rest = [c for c in nb.cells if not colab.TAGS & set(c.metadata.get("tags", []))]
    assert code_sources({"cells": rest}) == code_sources(original), "the notebook's own cells must stay as they were"
    badges = tagged(nb, "badges")[0].source
    github = url.removeprefix("https://github.com/")
    assert f"colab.research.google.com/github/{github}/blob/main/notebooks/01_autoencoder.ipynb" in badges
    assert f"mybinder.org/v2/gh/{github}/main?labpath=notebooks%2F01_autoencoder.ipynb" in badges
    assert f'"{url}"' in tagged(nb, "bootstrap")[0].source
    assert twin.read_text() == colab.twin_text(nb), "the twin must be as jupytext writes it"


@pytest.mark.parametrize("path", PAIRS, ids=[p.name for p in PAIRS])
def test_every_notebook_has_the_current_badges_and_bootstrap_cell(path):
    colab = import_tool("colab")
    assert colab.refresh(path.with_suffix(".py"), colab.repository(), write=False) is False, (
        f"{path.name}'s Colab cells are missing or stale: run `python tools/colab.py {path.name[:2]}`, "
        f"then `make notebooks NB={path.name[:2]}`")
    stored = nbformat.read(path, as_version=4)
    assert [c.metadata.get("tags") for c in stored.cells[1:3]] == [["badges"], ["bootstrap"]], (
        f"{path.name} was built before its twin got the Colab cells: `make notebooks NB={path.name[:2]}`")


def test_the_bootstrap_cell_does_nothing_where_vae_lite_is_installed(tmp_path, monkeypatch):
    colab = import_tool("colab")
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    monkeypatch.chdir(tmp_path)
    exec(compile(colab.BOOTSTRAP.format(repository="https://github.com/x/y"), "bootstrap", "exec"), {})
    assert calls == [] and Path.cwd() == tmp_path


def test_the_bootstrap_cell_switches_on_colabs_widget_manager(tmp_path, monkeypatch):
    import types

    colab = import_tool("colab")
    enabled = []
    output = types.SimpleNamespace(enable_custom_widget_manager=lambda: enabled.append(True))
    google = types.ModuleType("google")
    google.colab = types.ModuleType("google.colab")
    google.colab.output = output
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", google.colab)
    monkeypatch.chdir(tmp_path)
    exec(compile(colab.BOOTSTRAP.format(repository="https://github.com/x/y"), "bootstrap", "exec"), {})
    assert enabled == [True]


# ------------------------------------------------------------------ the student edition (tools/student.py)

TWINS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def is_stub(cell):
    return cell.cell_type == "code" and "raise NotImplementedError" in cell.source


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """The student edition of every notebook, written by the tool `make student` runs."""
    out = tmp_path_factory.mktemp("student")
    import_tool("student").main(["--out", str(out)])
    return out


def solution_lines(twin):
    """Code lines that only the solution cells of `twin` contain (not comments, not trivial)."""
    nb = jupytext.read(twin)
    elsewhere = {line.strip() for c in nb.cells if "solution" not in c.metadata.get("tags", [])
                 for line in c.source.splitlines()}
    return {line.strip() for c in nb.cells if "solution" in c.metadata.get("tags", [])
            for line in c.source.splitlines()
            if len(line.strip()) > 15 and not line.strip().startswith("#") and line.strip() not in elsewhere}


def test_the_student_edition_has_no_solution_every_stub_and_no_outputs(student):
    assert TWINS
    assert sum(len(solution_lines(t)) for t in TWINS) > 0, "the instructor edition should have solutions to remove"
    for twin in TWINS:
        edition = nbformat.read(student / twin.with_suffix(".ipynb").name, as_version=4)
        assert not [c for c in edition.cells if "solution" in c.metadata.get("tags", [])], twin.name
        text = "\n".join(c.source for c in edition.cells)
        leaked = [line for line in solution_lines(twin) if line in text]
        assert not leaked, f"solution code in the student edition of {twin.name}: {leaked}"
        stubs = [c.source for c in jupytext.read(twin).cells if is_stub(c)]
        assert stubs == [c.source for c in edition.cells if is_stub(c)], f"{twin.name}: an exercise stub is missing"
        code = [c for c in edition.cells if c.cell_type == "code"]
        assert all(c.outputs == [] and c.execution_count is None for c in code), f"{twin.name} has outputs"


@pytest.fixture(scope="module")
def execute():
    """execute(path, env, cwd): run the notebook at `path` top to bottom with the VAE_LITE_* variables
    `env` and the working folder `cwd`; return it executed. The runs of this file share one kernel
    (tools/kernel.py: each starts from what a fresh kernel has), sparing a kernel's start and the
    imports per run; a kernel that died is replaced. The figures are drawn, not rendered: these runs
    check that the cells run, and nbval's runs render every figure."""
    from kernel import Kernel, healthy_kernels

    with healthy_kernels(lambda cwd: Kernel(cwd, figures=False)) as kernel:
        yield lambda path, env, cwd: kernel(cwd).run(nbformat.read(path, as_version=4), env, cwd)


@pytest.mark.slow
@pytest.mark.parametrize("twin", TWINS, ids=[t.stem for t in TWINS])
def test_the_student_edition_runs_on_the_digits_and_every_checker_says_not_attempted_yet(student, twin, execute):
    """Run on the 8x8 digits, it also checks that every notebook runs on data other than MNIST
    (test_every_notebook_runs_on_another_data_set adds Fashion-MNIST): one run serves both."""
    path = student / twin.with_suffix(".ipynb").name
    nb = execute(path, {"VAE_LITE_QUICK": "1", "VAE_LITE_DEVICE": "cpu", "VAE_LITE_DATASET": "digits"}, cwd=student)
    stubs = [c for c in nb.cells if is_stub(c)]
    for cell in stubs:
        said = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert "not attempted yet" in said, f"{path.name}: the checker under\n{cell.source}\nsaid {said!r}"


# ------------------------------------------------------------------ every notebook on other data

# the digits: the student edition's run above
OTHER_DATASETS = [pytest.param("fashion-mnist", marks=pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="apt-get install dataset-fashion-mnist"))]


@pytest.mark.slow
@pytest.mark.parametrize("dataset", OTHER_DATASETS)
@pytest.mark.parametrize("twin", TWINS, ids=[t.stem for t in TWINS])
def test_every_notebook_runs_on_another_data_set(twin, dataset, tmp_path, execute):
    """VAE_LITE_DATASET switches every notebook to other data: each must still run top to bottom.

    Only that it runs is checked here (no stored outputs are compared: they come from MNIST): `execute`
    raises on the first failing cell, and every code cell must have run.
    """
    nb = jupytext.read(twin)
    path = tmp_path / twin.with_suffix(".ipynb").name
    nbformat.write(nb, path)
    executed = execute(path, {"VAE_LITE_QUICK": "1", "VAE_LITE_DEVICE": "cpu", "VAE_LITE_DATASET": dataset},
                       cwd=NOTEBOOKS)
    skipped = [i for i, c in enumerate(executed.cells) if c.cell_type == "code" and c.source.strip()
               and not c.get("execution_count")]
    assert not skipped, f"{twin.stem} on {dataset}: code cells {skipped} did not run"


def test_readme_badges_are_the_ones_the_tool_writes_from_pyproject():
    colab = import_tool("colab")
    text = colab.README.read_text()
    assert colab.readme_with_badges(text, colab.repository()) == text, "run `python tools/colab.py`"
    assert colab.readme_with_badges(text, "https://github.com/other/place") != text  # the check can fail


# ------------------------------------------------------------------ every CPU, not only this one

def other_cpu_kernel():
    """A vectorised-kernel choice other than this CPU's own (torch rounds differently under each): AVX2 on
    an AVX-512 CPU (what many other laptops have, and quicker than plain C++), else plain C++ ("default"),
    else AVX2."""
    import torch

    own = torch.backends.cpu.get_cpu_capability().lower()
    return "avx2" if own == "avx512" else "default" if own != "default" else "avx2"


@pytest.mark.slow
def test_every_notebook_passes_nbval_under_another_cpu_kernel(tmp_path):
    """A checked output or an assert that holds on one kind of CPU only would fail in a classroom.

    PyTorch picks its vectorised kernels by CPU (AVX-512, AVX2, plain C++: ATEN_CPU_CAPABILITY), and
    they round differently. `make test` runs nbval with this CPU's own kernels; this runs it again
    under another choice, so a CPU-dependent output fails here. The figures are drawn but not rendered
    to images (matplotlib's agg backend, as tools/kernel.py's figures=False): nbval compares no image,
    and the first pass renders every one.
    """
    kernel = other_cpu_kernel()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAE_LITE_")}
    env.update(VAE_LITE_QUICK="1", VAE_LITE_DEVICE="cpu", ATEN_CPU_CAPABILITY=kernel, MPLBACKEND="agg",
               PYTHONWARNINGS="ignore:FigureCanvasAgg is non-interactive")  # plt.show() has nothing to show
    done = subprocess.run([sys.executable, "-m", "pytest", str(NOTEBOOKS), "--nbval-lax", "-q", "-p", "no:cacheprovider",
                           "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"),
                           f"--basetemp={tmp_path / 'nbval'}"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"nbval under ATEN_CPU_CAPABILITY={kernel}:\n{done.stdout[-6000:]}"
