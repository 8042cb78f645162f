"""How many students one server holds: notebook 05 in quick mode on a real JupyterHub, 1, 2, 4, 8 at once.

    sudo python benchmarks/hub_load.py                       # 1, 2, 4, 8 students -> results/hub_load.json
    sudo python benchmarks/hub_load.py --users 1 2 --notebook 07_latent_space --out /tmp/x.json

The hub is class/jupyterhub_config.py run by tools/hub.py (as tests/test_hub.py runs it): one Unix
user per student, each server in its own cgroup (2 GB, 1 core), the student edition handed out at
login. At each stage that many students run every code cell of the notebook at the same moment,
each in a new kernel of their own server, through the hub's API. Per run: the wall seconds from the
session's start to the last cell's reply, the kernel's CPU seconds and its memory high-water mark
(VmHWM), and the high-water mark of the student's server process. The hub's API is asked for the
user list every 0.2 s throughout; each stage reports its slowest answer.

The most students the machine holds is set by memory, since CPU only makes everyone slower: the
machine's memory less what the hub and the system use, over the largest memory one student took
(server and kernel peaks). The CPU side is given as the CPU seconds one notebook needs, from which
the cores per student for a wanted wall time follow (benchmarks/README.md, TEACHING.md).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import hub as class_hub  # noqa: E402
import student  # noqa: E402

from vae_lite._files import atomic_write  # noqa: E402


def high_water_gb(process):
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 2**30
    raise OSError(f"no VmHWM for {process.pid}")


def stage(hub, students, notebook):
    """Every student in `students` runs the notebook at once; the stage's numbers."""
    start, load = time.time(), os.getloadavg()
    with ThreadPoolExecutor(len(students)) as pool:
        runs = list(pool.map(lambda s: s.run_notebook(f"vae_lite/{notebook}.ipynb"), students))
    servers = [high_water_gb(hub.server_process(s.name)) for s in students]
    answers = [seconds for when, seconds in hub.api_seconds if when >= start]
    for run, server in zip(runs, servers):
        run["server_peak_gb"] = server
        run["student_peak_gb"] = server + run["peak_gb"]
    return {
        "users": len(students),
        "all_finished": all(r["error"] is None and r["ran"] == r["cells"] for r in runs),
        "median_seconds": statistics.median(r["seconds"] for r in runs),
        "median_cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "kernel_peak_gb": max(r["peak_gb"] for r in runs),
        "student_peak_gb": max(r["student_peak_gb"] for r in runs),
        "hub_api_max_seconds": max(answers),
        "hub_api_answers": len(answers),
        "load_average_at_start": list(load),
        "runs": runs,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[1, 2, 4, 8], help="students at once, per stage")
    parser.add_argument("--notebook", default="05_vae", help="the notebook each student runs (quick mode)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "hub_load.json")
    args = parser.parse_args(argv)
    why = class_hub.missing_requirements()
    if why:
        sys.exit(f"hub_load.py: {why}")

    folder = Path(tempfile.mkdtemp(prefix="vae_lite_class_"))
    folder.chmod(0o755)
    student.main([args.notebook, "--out", str(folder)])
    for path in folder.iterdir():
        path.chmod(0o644)
    report = {"command": " ".join(["python benchmarks/hub_load.py", *(argv if argv is not None else sys.argv[1:])]),
              "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
              "notebook": args.notebook, "mode": "quick (VAE_LITE_QUICK=1)",
              "machine": {"cores": os.cpu_count(), "memory_gb": psutil.virtual_memory().total / 2**30},
              "limits_per_student": {"memory": "2G", "cores": 1},
              "load_average_at_start": list(os.getloadavg()), "stages": []}
    try:
        with class_hub.Hub(max(args.users), folder) as hub:
            students = hub.log_in_all()
            with ThreadPoolExecutor(len(students)) as pool:
                list(pool.map(lambda s: s.start(), students))
            hub_gb = psutil.Process(hub.process.pid).memory_info().rss / 2**30
            for n in args.users:
                result = stage(hub, students[:n], args.notebook)
                report["stages"].append(result)
                print(f"{n} at once: median {result['median_seconds']:.1f} s ({result['median_cpu_seconds']:.1f} CPU-s), "
                      f"student peak {result['student_peak_gb']:.2f} GB, hub API slowest {result['hub_api_max_seconds']:.2f} s, "
                      f"load {result['load_average_at_start'][0]:.1f}", flush=True)
            proxy = [p for p in psutil.Process(hub.process.pid).children(recursive=True) if "configurable-http-proxy" in " ".join(p.cmdline())]
            hub_gb += sum(p.memory_info().rss for p in proxy) / 2**30
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()

    report["load_average_at_end"] = list(os.getloadavg())
    peak = max(s["student_peak_gb"] for s in report["stages"])
    system_gb = 2.0  # kept for the operating system and the page cache
    report["most_students"] = {
        "by_memory": int((report["machine"]["memory_gb"] - system_gb - hub_gb) // peak),
        "basis": f"(machine memory - {system_gb} GB for the system - the hub and proxy's {hub_gb:.2f} GB) "
                 f"// the largest student peak, {peak:.2f} GB (server + kernel)",
        "by_limit": int((report["machine"]["memory_gb"] - system_gb - hub_gb) // 2),
        "by_limit_basis": "the same memory // the 2 GB limit: no student can then push another out",
        "cpu_seconds_per_notebook": report["stages"][0]["median_cpu_seconds"],
    }
    report["all_finished"] = all(s["all_finished"] for s in report["stages"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, lambda f: f.write((json.dumps(report, indent=1) + "\n").encode()))
    print(f"{args.out}: most students by memory {report['most_students']['by_memory']} "
          f"({report['most_students']['basis']})")
    return report


if __name__ == "__main__":
    main()
