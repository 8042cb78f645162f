"""tools/kernel.py: one kernel runs notebook after notebook, each from what a fresh kernel has."""

import nbformat
import pytest

import kernel as kernel_module
from kernel import Kernel

pytestmark = pytest.mark.slow  # each test starts a kernel

LEAVE_TRACES = """
import os
import matplotlib.pyplot as plt
from vae_lite import symbolic

left_behind = 1
os.environ["VAE_LITE_LEFT_BEHIND"] = "1"
plt.figure()
symbolic.linear_gaussian(symbolic.evidence_without_noise())  # memoised (functools.lru_cache); no integral, so quick
"""

FIND_NONE = """
import os
import matplotlib.pyplot as plt
from vae_lite import symbolic

assert "left_behind" not in globals(), "a name of the last run survived"
assert {{k: v for k, v in os.environ.items() if k.startswith("VAE_LITE_")}} == {{"VAE_LITE_QUICK": "1"}}, dict(os.environ)
assert os.getcwd() == {cwd!r}, os.getcwd()
assert plt.get_fignums() == [], "a figure of the last run survived"
assert symbolic.linear_gaussian.cache_info().currsize == 0, "vae_lite's memoised results survived"
"""


PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"


def notebook(*sources):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def images(ran):
    return [o for cell in ran.cells for o in cell.outputs if "image/png" in o.get("data", {})]


def test_a_run_starts_from_what_a_fresh_kernel_has(tmp_path):
    with Kernel(tmp_path) as kernel:
        kernel.run(notebook(LEAVE_TRACES), {"VAE_LITE_DATASET": "digits"}, tmp_path)
        kernel.run(notebook(FIND_NONE.format(cwd=str(tmp_path / "next"))), {"VAE_LITE_QUICK": "1"},
                   (tmp_path / "next").mkdir() or tmp_path / "next")
        assert images(kernel.run(notebook(PLOT), {}, tmp_path)), "by default a figure is rendered, as in class"


def test_without_figures_a_run_draws_them_but_renders_no_image_and_says_nothing(tmp_path):
    with Kernel(tmp_path, figures=False) as kernel:
        ran = kernel.run(notebook(PLOT + "\nprint(plt.get_backend(), plt.get_fignums())"), {}, tmp_path)
    said = "".join(o.get("text", "") for o in ran.cells[0].outputs if o.output_type == "stream")
    assert not images(ran) and said == "agg [1]\n", said


def test_the_check_fails_when_nothing_is_cleared(tmp_path, monkeypatch):
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setattr(kernel_module, "CLEAR", "pass")
    with Kernel(tmp_path) as kernel:
        kernel.run(notebook(LEAVE_TRACES), {"VAE_LITE_DATASET": "digits"}, tmp_path)
        with pytest.raises(CellExecutionError, match="a name of the last run survived"):
            kernel.run(notebook(FIND_NONE.format(cwd=str(tmp_path))), {"VAE_LITE_QUICK": "1"}, tmp_path)


def test_a_failing_cell_is_named_by_its_index_and_the_kernel_goes_on(tmp_path):
    from nbclient.exceptions import CellExecutionError

    with Kernel(tmp_path) as kernel:
        with pytest.raises(CellExecutionError) as error:
            kernel.run(notebook("x = 1", "1 / 0", "never = True"), {}, tmp_path)
        assert error.value.cell_index == 1 and error.value.ename == "ZeroDivisionError"
        assert kernel.healthy
        ran = kernel.run(notebook("x = 2", "print(x)"), {}, tmp_path)
        assert ran.cells[1].outputs[0]["text"] == "2\n"


class Pretend:
    """Stands in for a Kernel in healthy_kernels: no process, records its starts and stops."""
    log = []

    def __init__(self, *args):
        self.args, self.healthy = args, True

    def __enter__(self):
        self.log.append(("start", self.args))
        return self

    def __exit__(self, *exc):
        self.log.append(("stop", self.args))


def test_healthy_kernels_hands_on_a_kernel_until_a_run_leaves_it_unhealthy():
    Pretend.log = []
    with kernel_module.healthy_kernels(Pretend) as kernel:
        first = kernel("a")
        assert kernel("b") is first, "a healthy kernel is handed on"
        first.healthy = False
        second = kernel("c")
        assert second is not first and kernel("d") is second
    assert Pretend.log == [("start", ("a",)), ("stop", ("a",)), ("start", ("c",)), ("stop", ("c",))]
