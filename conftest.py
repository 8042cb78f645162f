"""Loaded by every pytest run in the repository: `make test`'s passes, and nbval under a second CPU kernel."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tools"))  # the project's tools, which tests import

pytest_plugins = ["nbval_kernels"]  # nbval's notebooks share one kernel per process (tools/nbval_kernels.py)
