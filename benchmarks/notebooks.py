"""How long each notebook takes to run, and how much memory its kernel needs.

    python benchmarks/notebooks.py                      # every notebooks/*.ipynb, class and quick mode
    python benchmarks/notebooks.py --modes quick notebooks/05_vae.ipynb
    python benchmarks/notebooks.py --update notebooks/02_elbo.ipynb   # measure one again, keep the rest

Each notebook runs top to bottom in a fresh kernel (nbclient, as nbval does), once in class
mode (the default) and once in quick mode (VAE_LITE_QUICK=1, what CI runs). Seconds are the
wall time from starting the kernel to the last cell's reply. Peak memory is the kernel
process's own high-water mark (VmHWM in /proc/<pid>/status, exact even between samples),
plus the largest resident size of its child processes seen while sampling every 0.1 s.
Targets: <= 120 s in class mode, <= 30 s in quick mode, <= 1 GB peak. The notebooks' files
are not changed.
"""

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent.parent / "results"
TARGETS = {"class_seconds": 120, "quick_seconds": 30, "peak_memory_gb": 1.0}


class KernelMemory(threading.Thread):
    """Samples the memory of the kernel that `client` starts, until stop() is called."""

    def __init__(self, client, interval=0.1):
        super().__init__(daemon=True)
        self.client, self.interval = client, interval
        self.kernel_peak = 0  # bytes, the kernel's VmHWM
        self.children_peak = 0  # bytes, the largest sum of its children's RSS seen
        self.cpu_seconds = 0.0  # the kernel's user + system time, with its ended children's
        self.pid = None
        self._done = threading.Event()

    def _kernel_pid(self):
        km = getattr(self.client, "km", None)
        provisioner = getattr(km, "provisioner", None)
        process = getattr(provisioner, "process", None) or getattr(km, "kernel", None)
        return getattr(process, "pid", None)

    def run(self):
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.interval)

    def sample(self):
        import psutil

        self.pid = self.pid or self._kernel_pid()
        if not self.pid:
            return
        try:
            self.kernel_peak = max(self.kernel_peak, high_water_mark(self.pid))
            children = psutil.Process(self.pid).children(recursive=True)
            self.children_peak = max(self.children_peak, sum(_rss(c) for c in children))
            t = psutil.Process(self.pid).cpu_times()
            self.cpu_seconds = t.user + t.system + t.children_user + t.children_system
        except (psutil.NoSuchProcess, OSError):  # the kernel has just ended
            pass

    def stop(self):
        self._done.set()
        self.join()


def high_water_mark(pid):
    """Peak resident set size of a process so far, in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise OSError(f"no VmHWM for process {pid}")


def _rss(process):
    try:
        return process.memory_info().rss
    except Exception:  # a child that just ended
        return 0


def run_notebook(path, quick, timeout):
    """Execute one notebook in a fresh kernel; return seconds, peak memory and any error."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    saved = os.environ.get("VAE_LITE_QUICK")
    os.environ["VAE_LITE_QUICK"] = "1" if quick else "0"  # the kernel inherits this environment
    memory = KernelMemory(client)
    memory.start()
    error = None
    start = time.perf_counter()
    try:
        with client.setup_kernel():  # what client.execute() does, keeping the kernel up to read its peak
            info = client.wait_for_reply(client.kc.kernel_info())
            nb.metadata["language_info"] = info["content"]["language_info"]
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            memory.sample()
    except Exception as e:  # a failing cell: record it and go on with the other notebooks
        error = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
    seconds = time.perf_counter() - start  # includes starting and stopping the kernel
    memory.stop()
    if saved is None:
        os.environ.pop("VAE_LITE_QUICK", None)
    else:
        os.environ["VAE_LITE_QUICK"] = saved
    peak = memory.kernel_peak + memory.children_peak
    return {
        "seconds": seconds,
        # on a busy machine the wall time counts waiting for a core; this counts the kernel's work
        "kernel_cpu_seconds": memory.cpu_seconds,
        "peak_memory_gb": peak / 2**30,
        "kernel_peak_gb": memory.kernel_peak / 2**30,
        "children_peak_gb": memory.children_peak / 2**30,
        "slowest_cells": slowest_cells(nb),
        "error": error,
        "ok": error is None,
    }


def slowest_cells(nb, top=3):
    """(cell index, seconds, first line) of the slowest code cells, from nbclient's timing metadata."""
    from datetime import datetime

    timed = []
    for index, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        begin, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if cell.cell_type == "code" and begin and end:
            seconds = (datetime.fromisoformat(end.rstrip("Z")) - datetime.fromisoformat(begin.rstrip("Z"))).total_seconds()
            first_line = cell.source.strip().splitlines()[0][:80] if cell.source.strip() else ""
            timed.append({"cell": index, "seconds": seconds, "source": first_line})
    return sorted(timed, key=lambda c: c["seconds"], reverse=True)[:top]


def check(result, mode):
    limit = TARGETS[f"{mode}_seconds"]
    return {"seconds": result["seconds"] <= limit, "memory": result["peak_memory_gb"] <= TARGETS["peak_memory_gb"],
            "ran": result["ok"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="default: every notebooks/*.ipynb")
    parser.add_argument("--modes", nargs="+", default=["class", "quick"], choices=["class", "quick"])
    parser.add_argument("--timeout", type=int, default=1200, help="seconds allowed per cell")
    parser.add_argument("--out", default=str(RESULTS / "notebooks.json"))
    parser.add_argument("--update", action="store_true",
                        help="replace only these notebooks' results in --out; each result records its own run")
    args = parser.parse_args(argv)

    from vae_lite._files import atomic_write

    paths = [Path(p).resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not paths:
        raise SystemExit(f"no notebooks found in {ROOT / 'notebooks'}; pass some .ipynb files")
    report = {"targets": TARGETS, "command": " ".join(["python", "benchmarks/notebooks.py", *sys.argv[1:]]),
              "load_average_at_start": os.getloadavg(), "notebooks": {}}
    for path in paths:
        entry = report["notebooks"][path.name] = {}
        for mode in args.modes:
            result = run_notebook(path, quick=mode == "quick", timeout=args.timeout)
            result["met"] = check(result, mode)
            entry[mode] = result
            print(f"{path.name} [{mode}]: {result['seconds']:.1f} s ({result['kernel_cpu_seconds']:.1f} s CPU), peak {result['peak_memory_gb']:.2f} GB"
                  + (f", FAILED: {result['error']}" if result["error"] else ""), flush=True)
    report["load_average_at_end"] = os.getloadavg()
    report["when"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    out = Path(args.out)
    if args.update and out.exists():  # the new results carry their own run; the others stay as they were
        previous = json.loads(out.read_text())
        for entry in report["notebooks"].values():
            for result in entry.values():
                result["run"] = {key: report[key] for key in ("command", "when", "load_average_at_start")}
        for name, entry in report["notebooks"].items():
            previous["notebooks"].setdefault(name, {}).update(entry)
        report = previous
    report["all_met"] = all(all(r["met"].values()) for e in report["notebooks"].values() for r in e.values())
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: f.write(json.dumps(report, indent=1).encode()))
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
