# vae_lite: the two commands that do everything on a fresh clone (see README.md)
#   make lab    set up, then open the notebooks in JupyterLab (localhost, token login)
#   make test   set up, then run every test: unit tests, all notebooks (nbval), the browser tests
#   make site   set up, then build the course as a static website in build/site (see README.md)

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# A CPU build is enough to learn with; for a GPU, TORCH_BACKEND=auto (README.md).
TORCH  ?= torch==2.13.0
.PHONY: setup lab test test-fast notebooks student assignments site clean

setup: $(VENV)/.installed node_modules/.installed

# uv (from PyPI) downloads and installs in parallel: set-up in about half a minute, where pip took two
# (benchmarks/README.md). PyTorch comes from PyTorch's own index as its CPU build (about 200 MB);
# where that index is out of reach, from PyPI, whose Linux build bundles CUDA (several GB).
TORCH_BACKEND ?= cpu
UV = $(BIN)/uv pip install --quiet --system-certs --python $(BIN)/python

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==0.13.10
	UV_HTTP_RETRIES=0 $(UV) "$(TORCH)" --torch-backend $(TORCH_BACKEND) 2>/dev/null \
		|| { echo "PyTorch's index is out of reach: torch from PyPI instead"; $(UV) "$(TORCH)"; }
	$(UV) -e ".[notebooks,site,test,class]"
	touch $@

# The site's JavaScript (ipywidgets' HTML manager, MathJax, esbuild), from npm at the versions of
# package-lock.json. Without npm the notebooks still run; only `make site` and its test need it.
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: install Node.js and npm for make site (Debian: apt-get install npm)"; fi

# Jupyter refuses to run as root unless told; containers (Docker, Binder-like) often are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: setup
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=notebooks $(ALLOW_ROOT) $(LAB_ARGS)

# Notebooks run in quick mode (VAE_LITE_QUICK=1): less data and fewer epochs, same checks.
# Two workers (pytest-xdist), one test file or notebook at a time each: a notebook's cells share one
# kernel, and a file's tests share its fixtures (a notebook executed once serves several checks).
# One thread per worker (OMP_NUM_THREADS=1): with a worker per core, a second thread would only wait.
# The JupyterHub tests run afterwards, alone: they time the hub's answers under its own students' load.
WORKERS ?= 2
test: setup
	OMP_NUM_THREADS=1 VAE_LITE_QUICK=1 $(BIN)/python -m pytest -n $(WORKERS) --dist loadfile -m "not hub" tests notebooks \
		--nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg $(PYTEST_ARGS)
	VAE_LITE_QUICK=1 $(BIN)/python -m pytest -m hub tests/test_hub.py $(PYTEST_ARGS)

# Unit tests only: the quick loop while editing vae_lite.
test-fast: setup
	$(BIN)/python -m pytest -n $(WORKERS) tests -x -q -m "not slow" $(PYTEST_ARGS)

# Execute every notebook in class mode and store it with its outputs (NB="05 06" for some).
notebooks: setup
	$(BIN)/python tools/build_notebooks.py $(NB)

# The student edition: build/student/NN_*.ipynb without the solutions, outputs cleared.
student: setup
	$(BIN)/python tools/student.py

# The nbgrader course: build/course/, the notebooks as assignments (source/) and nbgrader's release
# for students (release/); points per exercise in class/points.toml (TEACHING.md, "Running a class").
assignments: setup
	$(BIN)/python tools/assignments.py

# The notebooks as a static website, from their stored outputs: build/site/index.html (README.md, "The site")
site: setup
	$(BIN)/python tools/build_site.py $(SITE_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache node_modules
