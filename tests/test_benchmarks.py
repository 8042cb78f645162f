"""Smoke tests of the benchmark scripts: each runs in a tiny configuration and writes sane JSON.

The real runs (full MNIST, minutes to an hour) are described in benchmarks/README.md.
"""

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"

# each test starts Python with torch (the notebook test four kernels): 45 s in all on our 2-core CPU with two other jobs running
pytestmark = pytest.mark.slow


def run_script(name, *args, timeout=300):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(BENCHMARKS / name), *map(str, args)],
                            capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def finite_positive(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_speed_quick_writes_every_ratio_and_report_reads_it(tmp_path):
    out = tmp_path / "speed.json"
    run_script("speed.py", "--quick", "--threads", "1", "--skip-memory", "--out", out)
    report = json.loads(out.read_text())
    assert set(report["seconds_median"]) == set(report["cpu_seconds_median"]) == {"fit", "reference", "bare"}
    assert all(finite_positive(s) for s in report["seconds_median"].values())
    results = report["results"]
    for key in ("fit_over_bare", "fit_over_bare_paired", "reference_over_fit", "reference_over_fit_paired"):
        assert finite_positive(results[key]), key
    assert results["fit_over_bare"] == pytest.approx(report["seconds_median"]["fit"] / report["seconds_median"]["bare"])
    assert all(finite_positive(v) for v in results["by_cpu_time"].values())
    assert set(report["met"]) == set(report["targets"])
    assert report["config"]["threads"] == 1 and report["config"]["train_images"] == 1500
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import report as report_module
    finally:
        sys.path.remove(str(BENCHMARKS))
    table = "\n".join(report_module.speed_table(report))
    assert f"| fit / bare loop, one epoch (fit includes its test evaluation) | {results['fit_over_bare']:.3f}" in table


def test_speed_measures_peak_memory_in_a_subprocess():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import speed
    finally:
        sys.path.remove(str(BENCHMARKS))
    args = argparse.Namespace(threads=1, dataset="digits", batch_size=128,
                                                        train_size=None, test_size=None)
    memory = speed.measure_memory("bare", args)
    assert 50 < memory["peak_rss_mb"] < 4000  # torch alone takes tens of MB; digits add little
    assert memory["peak_rss"] >= memory["rss_before_training"]


def test_quality_quick_reports_elbo_and_a_tighter_iw_bound(tmp_path):
    out = tmp_path / "quality.json"
    run_script("quality.py", "digits-quick", "--threads", "1", "--out", out)
    result = json.loads(out.read_text())["digits-quick"]
    assert result["config"]["dataset"] == "digits" and len(result["epochs"]) == 2
    for key in ("test_neg_elbo", "iw_nll", "test_kl", "train_seconds"):
        assert finite_positive(result[key]), key
    # log p(x) >= IW bound >= ELBO on average, so the IW NLL is at most the -ELBO (up to noise)
    assert result["iw_nll"] <= result["iw_test_neg_elbo"] + 3 * result["iw_nll_std_error"]
    assert result["test_neg_elbo"] == pytest.approx(result["test_reconstruction"] + result["test_kl"])
    assert 0 <= result["active_units"] <= result["config"]["latent_dim"]
    assert "quality.py digits-quick" in result["command"]


def test_notebooks_benchmark_times_a_notebook_and_reads_its_kernel_memory(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import os\nquick = os.environ['VAE_LITE_QUICK'] == '1'"),
        # 200 MB in class mode only: the kernel's peak must show it
        nbformat.v4.new_code_cell("block = None if quick else b'x' * (200 * 2**20)\nblock = None"),
    ]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    broken = tmp_path / "broken.ipynb"
    nb.cells = [nbformat.v4.new_code_cell("1 / 0")]
    nbformat.write(nb, broken)
    out = tmp_path / "notebooks.json"
    run_script("notebooks.py", path, broken, "--out", out)
    report = json.loads(out.read_text())
    tiny = report["notebooks"]["tiny.ipynb"]
    assert tiny["class"]["ok"] and tiny["quick"]["ok"]
    assert all(finite_positive(tiny[m]["seconds"]) for m in ("class", "quick"))
    assert tiny["class"]["peak_memory_gb"] - tiny["quick"]["peak_memory_gb"] > 0.15
    assert not report["notebooks"]["broken.ipynb"]["quick"]["ok"]
    assert "ZeroDivisionError" in report["notebooks"]["broken.ipynb"]["quick"]["error"]
    assert report["all_met"] is False
