"""The install promises of README.md: the two commands, one dependency list, CI runs the tests."""

import re
import tomllib
from pathlib import Path

import yaml

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
