"""The install promises of README.md: the two commands, one dependency list, a CPU torch for Binder,
Colab (simulated), a wheel that works on its own, and CI running the tests."""

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def requirement_name(spec):
    return re.split(r"[<>=!~\[ ;]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    return {requirement_name(s): s.replace(" ", "") for s in specs}


# conda packages that stand for a pip requirement of pyproject.toml
CONDA_FOR_PIP = {"pytorch-cpu": "torch"}


def environment():
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def environment_requirements():
    """Every requirement environment.yml makes, by its pip name: the conda ones named in
    CONDA_FOR_PIP and all of the pip section."""
    dependencies = environment()["dependencies"]
    pip = next(d["pip"] for d in dependencies if isinstance(d, dict) and "pip" in d)
    requirements = {requirement_name(s): s.replace(" ", "") for s in pip}
    for spec in dependencies:
        if isinstance(spec, str) and requirement_name(spec) in CONDA_FOR_PIP:
            name = requirement_name(spec)
            requirements[CONDA_FOR_PIP[name]] = CONDA_FOR_PIP[name] + spec.replace(" ", "")[len(name):]
    return requirements


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    pyproject, conda = pyproject_requirements(), environment_requirements()
    assert set(pyproject) == set(conda), (
        f"only in pyproject.toml: {sorted(set(pyproject) - set(conda))}; "
        f"only in environment.yml: {sorted(set(conda) - set(pyproject))}"
    )
    differ = {name: (pyproject[name], conda[name]) for name in pyproject if pyproject[name] != conda[name]}
    assert not differ, f"version specifiers differ (pyproject, environment.yml): {differ}"


def test_readme_opens_with_the_two_commands_and_they_exist_in_the_makefile():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:sh|bash|console)?\n(.*?)```", readme, re.S).group(1)
    commands = [line.strip() for line in first_block.splitlines() if line.strip() and not line.startswith("#")]
    assert commands == ["make lab", "make test"], commands
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lab", "test", "setup", "notebooks"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no '{target}' target"


def test_ci_runs_the_readmes_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\s*(time\s+)?make test\b", ci, re.M)


def test_the_test_command_runs_the_notebooks_with_nbval_in_quick_mode():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "VAE_LITE_QUICK=1" in recipe and "--nbval-lax" in recipe and "notebooks" in recipe


def test_the_package_pins_nothing_that_pulls_a_cuda_build_by_accident():
    # `make setup` installs the CPU build first; a pin above it would make pip fetch several GB.
    torch_spec = pyproject_requirements()["torch"]
    assert not re.search(r"==|>=\s*2\.1[4-9]", torch_spec), torch_spec


def test_environment_yml_gives_binder_a_cpu_build_of_torch():
    """Binder has ~2 GB of memory: torch must come from conda-forge's CPU build, never from pip
    (on Linux, PyPI's torch is the CUDA build of several GB)."""
    env = environment()
    assert env["channels"][0] == "conda-forge", env["channels"]
    conda = [s for s in env["dependencies"] if isinstance(s, str)]
    torch_specs = [s for s in conda if requirement_name(s) in ("pytorch", "pytorch-cpu", "pytorch-gpu", "torch")]
    assert len(torch_specs) == 1 and requirement_name(torch_specs[0]) == "pytorch-cpu", torch_specs
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert not [s for s in pip if requirement_name(s) == "torch" or s.lstrip().startswith("-")], \
        "pip must neither install torch nor use another index"
    post_build = (ROOT / "postBuild").read_text()
    assert "--no-deps" in post_build, "postBuild must install vae_lite without letting pip replace torch"


# ------------------------------------------------------------------ clean environments (slow)
# A fresh virtual environment with what Colab has (torch and the usual scientific packages), made once
# per test module from this environment's files; each test first removes vae_lite from it, so the
# order does not matter.

TORCH = "torch==" + importlib.metadata.version("torch").split("+")[0]  # the build `make setup` took


def run(command, **kwargs):
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def installed_with_requirements(*names):
    """The installed distributions `names` need: each of them and, recursively, their requirements."""
    found, todo = {}, list(names)
    while todo:
        name = todo.pop()
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # a requirement for another platform, or an extra nobody installed
        if dist.name.lower() not in found:
            found[dist.name.lower()] = dist
            todo += [Requirement(r).name for r in dist.requires or [] if Requirement(r).marker is None
                     or Requirement(r).marker.evaluate({"extra": ""})]
    return list(found.values())


def hard_link_installed(dists, site_packages):
    """Put the installed files of `dists` into another environment's site-packages as hard links: the
    same torch in seconds, where installing it again unpacks gigabytes (PyPI's Linux torch carries CUDA).
    pip in the new environment sees them installed; uninstalling there removes only the links. False if
    the two folders are on different file systems, which cannot share a file."""
    for dist in dists:
        for file in dist.files or []:
            source = Path(dist.locate_file(file))
            target = site_packages / file
            if ".." in file.parts or not source.is_file():
                continue  # scripts in bin/, and files the RECORD lists but pip never wrote (.pyc)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                return False
    return True


def fresh_environment(folder, names, requirements):
    """The python of a new virtual environment in `folder` holding the distributions `names` (and what
    they require) of this environment, hard-linked, or installed from the index as `requirements` where
    links cannot be made."""
    run([sys.executable, "-m", "venv", folder])
    python = folder / "bin" / "python"
    site_packages = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).strip())
    if not hard_link_installed(installed_with_requirements(*names), site_packages):
        # --no-compile: Python compiles what it imports anyway, and compiling all of torch took half the install.
        run([python, "-m", "pip", "install", "--quiet", "--no-compile", *requirements], timeout=900)
    assert torch_version(python) == torch_version(sys.executable), "the environment should hold this torch"
    return python


# What a Colab runtime has before a notebook's first cell runs, among vae_lite's requirements and what
# runs a notebook. Not ipywidgets: Colab's is 7, and the bootstrap cell installs 8 (with anywidget).
COLAB_HAS = ("torch", "numpy", "scipy", "scikit-learn", "matplotlib", "sympy", "tqdm", "pillow", "filelock",
             "platformdirs", "ipykernel", "nbclient")


@pytest.fixture(scope="module")
def colab_like(tmp_path_factory):
    """The python of a fresh virtual environment holding what Colab has installed (COLAB_HAS)."""
    return fresh_environment(tmp_path_factory.mktemp("colab") / "venv", COLAB_HAS, [TORCH, *COLAB_HAS[1:]])


def clean_env(tmp_path, **extra):
    """No VAE_LITE_* from the caller, an empty HOME: what a newcomer's machine has."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAE_LITE_")}
    env.update(HOME=str(tmp_path / "home"), VAE_LITE_DEVICE="cpu", **extra)
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


def pip_cache():
    """PIP_CACHE_DIR of the pip that set this environment up, for a process whose HOME is empty: it then
    installs the same packages from the index without downloading their files again ({} without a cache)."""
    done = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True)
    return {"PIP_CACHE_DIR": done.stdout.strip()} if done.returncode == 0 and done.stdout.strip() else {}


def torch_version(python):
    return run([python, "-c", "import torch; print(torch.__version__)"]).strip()


def without_vae_lite(python):
    subprocess.run([python, "-m", "pip", "uninstall", "--quiet", "--yes", "vae_lite"], capture_output=True)
    assert subprocess.run([python, "-c", "import vae_lite"], capture_output=True, cwd="/").returncode != 0


EXECUTE = """
import os, sys, time, nbformat
from nbclient import NotebookClient
for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": os.path.dirname(path)}}).execute()
    nbformat.write(nb, path)
    print(os.path.basename(path), f"{time.perf_counter() - start:.0f} s", flush=True)
"""


@pytest.mark.slow
def test_colab_simulation_installs_vae_lite_keeps_torch_and_runs_notebooks_01_and_the_latent_space(
        colab_like, tmp_path):
    """As on Colab: its packages installed (COLAB_HAS), the notebook opened from the repository with its
    bootstrap cell first. The cell clones the repository (here: this one, committed state),
    installs vae_lite with pip, and the notebook then runs top to bottom in quick mode."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import colab
    finally:
        sys.path.remove(str(ROOT / "tools"))
    without_vae_lite(colab_like)
    before = torch_version(colab_like)
    content = tmp_path / "content"  # Colab's working folder
    content.mkdir()
    twins = [next(ROOT.glob("notebooks/01_*.py")), next(ROOT.glob("notebooks/*_latent_space.py"))]
    for twin in twins:
        nb = colab.with_colab_cells(jupytext.read(twin), twin.with_suffix(".ipynb").name, colab.repository())
        nbformat.write(nb, content / twin.with_suffix(".ipynb").name)
    env = clean_env(tmp_path, VAE_LITE_QUICK="1", VAE_LITE_REPOSITORY=str(ROOT), **pip_cache())
    said = run([colab_like, "-c", EXECUTE, *sorted(content.glob("*.ipynb"))], cwd=content, env=env, timeout=900)
    print(said)
    assert torch_version(colab_like) == before, "installing vae_lite must not replace the torch that was there"
    where = run([colab_like, "-c", "import vae_lite; print(vae_lite.__file__)"], cwd="/", env=env)
    assert where.startswith(str(content / "vae_lite")), where
    for path in content.glob("*.ipynb"):
        bootstrap = nbformat.read(path, as_version=4).cells[2]
        assert "bootstrap" in bootstrap.metadata["tags"] and bootstrap.execution_count == 1


@pytest.mark.slow
def test_a_wheel_holds_the_checkpoint_and_trains_in_a_clean_environment(colab_like, tmp_path):
    """Built from the repository and installed into a fresh environment: no clone beside it, an empty
    HOME, vae_lite's own files (the checkpoint, the explorers' code) from the wheel alone."""
    without_vae_lite(colab_like)
    before = torch_version(colab_like)
    run([colab_like, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", tmp_path / "dist", ROOT],
        timeout=600)
    (wheel,) = (tmp_path / "dist").glob("vae_lite-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "vae_lite/checkpoints/mnist_vae.pt" in names, names
    assert {"vae_lite/explorers.js", "vae_lite/networks.js"} <= set(names), "the explorers' page-side code is missing from the wheel"
    assert not [n for n in names if n.startswith(("data/", "tests/", "notebooks/"))], "the wheel is the package only"
    run([colab_like, "-m", "pip", "install", "--quiet", wheel], timeout=600)
    assert torch_version(colab_like) == before, "installing the wheel must not replace torch"
    env = clean_env(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    check = ("import vae_lite, vae_lite.data as d, vae_lite.pretrained as p; "
             "assert d.REPOSITORY_DATA_DIR is None, d.REPOSITORY_DATA_DIR; "
             "assert p.CHECKPOINT.is_file(), p.CHECKPOINT; print(vae_lite.__file__)")
    assert "site-packages" in run([colab_like, "-c", check], cwd=work, env=env)
    said = run([colab_like, "-m", "vae_lite", "train", "--dataset", "digits", "--epochs", "1", "--out", "m.pt"],
               cwd=work, env=env, timeout=600)
    assert (work / "m.pt").is_file(), said


def test_teaching_guide_shows_the_measured_timings():
    """TEACHING.md's timings table is generated from results/notebooks.json, never typed."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import teaching
    finally:
        sys.path.remove(str(ROOT / "tools"))
    results = json.loads(teaching.RESULTS.read_text())
    assert results["notebooks"]
    text = teaching.GUIDE.read_text()
    assert teaching.refreshed(text, results) == text, "run `python tools/teaching.py`"


def test_teaching_guides_questions_for_the_room_are_the_notebooks_own_prompts():
    """TEACHING.md, "Where to stop and ask the room": each quoted question is a "Predict, then run" prompt of its
    notebook, under the heading the guide names, so the guide never sends a teacher to a prompt that was reworded."""
    guide = (ROOT / "TEACHING.md").read_text().split("## Where to stop and ask the room", 1)[1].split("\n## ", 1)[0]
    quoted = re.findall(r'^- \*\*(\d\d), ([^*]+)\*\*: "([^"]+)"', guide, re.M | re.S)
    assert len(quoted) >= 8, quoted
    flat = lambda text: re.sub(r"\s+", " ", text)
    for number, heading, question in quoted:
        source = next((ROOT / "notebooks").glob(f"{number}_*.py")).read_text()
        sections = re.split(r"^# #+ ", source, flags=re.M)
        section = next((s for s in sections if s.startswith(heading + "\n")), None)
        assert section is not None, f"{number}: no heading '{heading}'"
        prompts = flat(re.sub(r"^# ?>? ?", "", section, flags=re.M)).split("Predict, then run.")[1:]
        assert any(flat(question) in prompt for prompt in prompts), f"{number}, {heading}: no prompt asks '{question}'"


def test_every_notebooks_core_path_fits_a_class_of_60_minutes_with_five_for_questions():
    """What does not fit goes under "## Optional" (TEACHING.md, "Class time" and "When a class runs over")."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import teaching
    finally:
        sys.path.remove(str(ROOT / "tools"))
    results = json.loads(teaching.RESULTS.read_text())["notebooks"]
    over = {}
    for twin in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        run = results.get(twin.with_suffix(".ipynb").name, {}).get("class") or {}
        core = teaching.class_minutes(twin, run.get("seconds", 0.0) if run.get("ok") else 0.0)["core"]
        if core > 55.05:  # the guide rounds to the minute; tools/teaching.py --show prints one decimal
            over[twin.stem] = round(core, 1)
    assert not over, f"core paths over 55 minutes (tools/teaching.py --show): {over}"


def test_every_notebook_lists_its_optional_sections_with_the_minutes_they_take():
    """A teacher choosing what to add to a class, or to set as reading, sees each Optional section's minutes,
    and those minutes are tools/teaching.py's estimate (`--sections NN`), not a guess: within 3 minutes or 30 %."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import teaching
    finally:
        sys.path.remove(str(ROOT / "tools"))
    for twin in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        total = teaching.class_minutes(twin)["optional"]
        listed = teaching.stated_optional_minutes(twin)
        covered = sum(estimate for _, estimate in listed.values())
        assert covered >= 0.9 * total, (f"{twin.stem}: the Optional sections listed with their minutes take "
                                        f"{covered:.0f} of its {total:.0f} minutes; list the rest")
        wrong = {h: (stated, round(est)) for h, (stated, est) in listed.items() if abs(stated - est) > max(3, 0.3 * est)}
        assert not wrong, f"{twin.stem}: (stated, estimated) minutes of Optional sections: {wrong}"


def test_the_readmes_package_map_names_every_module_and_counts_the_reading_path_right():
    readme = (ROOT / "README.md").read_text()
    modules = {p.name for p in (ROOT / "vae_lite").glob("*.py")} - {"__init__.py"}
    unnamed = {m for m in modules if f"`{m}`" not in readme}
    assert not unnamed, f"README.md's package map does not name {sorted(unnamed)}"
    code_lines = lambda name: sum(1 for line in (ROOT / "vae_lite" / name).read_text().splitlines()  # noqa: E731
                                  if line.strip() and not line.strip().startswith("#"))
    said = int(re.search(r"the first four files are (\d+) lines", readme).group(1))
    assert said == sum(map(code_lines, ["objectives.py", "models.py", "networks.py", "train.py"]))
