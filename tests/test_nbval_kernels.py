"""tools/nbval_kernels.py: nbval's notebooks run one after another in one kernel, each from a clean one."""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

TOOLS = Path(__file__).resolve().parent.parent / "tools"

FIRST = """
import os
from pathlib import Path
Path("first.pid").write_text(str(os.getpid()))
left_behind = 1
"""

SECOND = """
import os
from pathlib import Path
assert "left_behind" not in globals(), "a name of the first notebook survived"
print("the same kernel" if Path("first.pid").read_text() == str(os.getpid()) else "a new kernel")
"""


@pytest.mark.slow  # a pytest process with nbval and its kernels
@pytest.mark.parametrize("plugin, said", [("nbval_kernels", "the same kernel"), ("no:nbval_kernels", "a new kernel")])
def test_the_second_notebook_gets_the_first_ones_kernel_cleared(tmp_path, plugin, said):
    for name, source in [("a_first.ipynb", FIRST), ("b_second.ipynb", SECOND)]:
        cell = nbformat.v4.new_code_cell(source, execution_count=1)
        if name.startswith("b"):  # its stored output is what nbval compares
            cell.metadata["tags"] = ["nbval-check-output"]
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=said + "\n")]
        nbformat.write(nbformat.v4.new_notebook(cells=[cell], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}), tmp_path / name)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TOOLS), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", plugin, "-p", "no:cacheprovider", "--nbval-lax",
                           "--rootdir", str(tmp_path), "a_first.ipynb", "b_second.ipynb"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
