"""A pytest plugin: nbval hands each notebook's kernel on to the next notebook instead of stopping it.

nbval starts a kernel for every notebook and stops it after the notebook's last cell. Starting one and
importing torch, vae_lite, matplotlib, sympy and scikit-learn in it again takes about 5 s on a 2-core
laptop, and `make test` runs nbval over the eleven notebooks twice (the second time under another CPU
kernel choice). With this plugin the kernel is cleared as tools/kernel.py clears it (the user's names,
vae_lite's memoised results, the figures, the widgets), its VAE_LITE_* variables are set back to this
process's and it moves to the next notebook's folder. A kernel that timed out, died or refused to be
cleared is stopped as nbval stops it, and the next notebook gets a new one.

pyproject.toml's pytest settings load it; elsewhere: `pytest -p nbval_kernels` with tools/ on the path.
"""

import os

_spare = []  # the kernel waiting for the next notebook of this process


def _run(kernel, code):
    """Run code in nbval's kernel, outside any cell; True if it ran without an error."""
    reply = kernel.kc.execute_interactive(code, store_history=False, timeout=120, output_hook=lambda message: None)
    return reply["content"]["status"] == "ok"


def pytest_configure(config):
    if not (getattr(config.option, "nbval", False) or getattr(config.option, "nbval_lax", False)):
        return
    from kernel import CLEAR, PREPARE
    from nbval.plugin import IPyNbFile

    start, stop = IPyNbFile.setup, IPyNbFile.teardown

    def setup(notebook):
        kernel = _spare.pop() if _spare else None
        env = {k: v for k, v in os.environ.items() if k.startswith("VAE_LITE_")}
        if kernel is None or not kernel.is_alive() or not _run(kernel, PREPARE.format(env=env, cwd=str(notebook.fspath.dirname))):
            if kernel is not None and kernel.is_alive():
                kernel.stop()
            return start(notebook)
        notebook.kernel = kernel
        notebook.setup_sanitize_files()

    def teardown(notebook):
        kernel = notebook.kernel
        try:
            reusable = kernel is not None and kernel.is_alive() and not notebook.timed_out and _run(kernel, CLEAR)
        except Exception:  # a kernel that does not answer in time
            reusable = False
        if reusable:
            _spare.append(kernel)
        else:
            stop(notebook)

    IPyNbFile.setup, IPyNbFile.teardown = setup, teardown


def pytest_sessionfinish(session):
    while _spare:
        kernel = _spare.pop()
        if kernel.is_alive():
            kernel.stop()
