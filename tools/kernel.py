"""One Jupyter kernel that runs many notebooks in turn, each from what a fresh kernel would have.

Starting a kernel and importing torch and vae_lite takes about 3.5 s on a 2-core laptop, and `make test`
runs the notebooks dozens of times. So runs that only check that a notebook runs share a kernel: a run
sets the kernel's VAE_LITE_* variables and working folder, runs the cells in order, and then clears
what it left behind (CLEAR): the user's names (%reset), vae_lite's memoised results, the figures and
the widgets.

    with Kernel() as kernel:
        kernel.run(nbformat.read("notebooks/05_vae.ipynb", as_version=4),
                   env={"VAE_LITE_QUICK": "1"}, cwd="notebooks")

Kernel(figures=False) draws every figure but renders none to an image (matplotlib's agg backend in place
of the inline one): for runs that only check that the cells run, about a tenth quicker. nbval's runs,
which are what a student sees, keep the inline backend.
"""

import contextlib

# Runs in the kernel before each notebook: its VAE_LITE_* variables are exactly `env` (vae_lite reads
# them when it is called, not when it is imported), and it works in `cwd`, as a fresh kernel would.
PREPARE = """
def _prepare(env, cwd):
    import os

    for name in [k for k in os.environ if k.startswith("VAE_LITE_")]:
        del os.environ[name]
    os.environ.update(env)
    os.chdir(cwd)

_prepare({env!r}, {cwd!r})
del _prepare
"""

# Runs in the kernel after each notebook: nothing the run made survives into the next one.
CLEAR = """
def _clear():
    import sys

    import matplotlib.pyplot

    for module in [m for name, m in list(sys.modules.items()) if name == "vae_lite" or name.startswith("vae_lite.")]:
        for value in list(vars(module).values()):
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
    matplotlib.pyplot.close("all")
    if "ipywidgets" in sys.modules:
        sys.modules["ipywidgets"].Widget.close_all()  # the registry would keep every explorer's model alive

_clear()
get_ipython().run_line_magic("reset", "-f")
"""


class Kernel:
    """A python3 kernel for several notebook runs (see the module's docstring). `healthy` turns False
    when a run fails other than by a cell's error (a dead kernel, a timeout): start another then."""

    def __init__(self, cwd=".", figures=True):
        import nbformat
        from nbclient import NotebookClient

        self.figures = figures
        self.client = NotebookClient(nbformat.v4.new_notebook(), timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(cwd)}})
        self._stack = contextlib.ExitStack()
        self.healthy = True

    def __enter__(self):
        import os

        # ipykernel picks the inline backend only where MPLBACKEND is unset
        start = {} if self.figures else {"env": {**os.environ, "MPLBACKEND": "agg"}}
        self._stack.enter_context(self.client.setup_kernel(**start))
        if not self.figures:  # plt.show() has nothing to show on agg, and would say so after every figure
            self.run_code("import warnings\nwarnings.filterwarnings('ignore', 'FigureCanvasAgg is non-interactive')")
        return self

    def __exit__(self, *exc):
        return self._stack.__exit__(*exc)

    def run_code(self, code):
        """Run code that is not a notebook's (a set-up or a clean-up); raise if the kernel refuses it."""
        from nbclient.util import run_sync

        reply = run_sync(self.client.kc.execute_interactive)(code, store_history=False, timeout=120,
                                                             output_hook=lambda message: None)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the kernel refused {code.strip().splitlines()[0]!r}...: "
                               f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}")

    def run(self, nb, env, cwd, stop_at=None):
        """Run the code cells of `nb` in order, storing their outputs in it, until the cell at index
        `stop_at` (all if None); a failing cell raises nbclient's CellExecutionError. Returns nb."""
        from nbclient.exceptions import CellExecutionError

        try:
            self.run_code(PREPARE.format(env=dict(env), cwd=str(cwd)))
            self.client.nb = nb
            try:
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type == "code":
                        self.client.execute_cell(cell, index)
                    if index == stop_at:
                        break
            finally:
                self.run_code(CLEAR)
        except CellExecutionError as error:
            error.cell_index = index  # which cell failed, for a caller that expects it to
            raise
        except Exception:
            self.healthy = False
            raise
        return nb


@contextlib.contextmanager
def healthy_kernels(start=Kernel):
    """Yields kernel(*args): the kernel of the runs so far, or a new one, start(*args), when there is none or
    the last run left it unhealthy (a dead kernel is not handed on). Stops whichever is running at the end."""
    current = []

    def kernel(*args):
        if current and not current[0].healthy:
            current.pop().__exit__(None, None, None)
        if not current:
            current.append(start(*args).__enter__())
        return current[0]

    try:
        yield kernel
    finally:
        for running in current:
            running.__exit__(None, None, None)
