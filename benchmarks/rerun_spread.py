"""How far a rerun of a stored training curve may land from it: across CPU kernels and across seeds.

    python benchmarks/rerun_spread.py                    # frey-2, 40 epochs, seeds 0-9, every kernel
    python benchmarks/rerun_spread.py --workers 1        # the same, one subprocess at a time
    python benchmarks/rerun_spread.py --epochs 4 --seeds 0 1 --out /tmp/s.json   # the smoke test

Notebook 09 reruns the first epochs of the stored Frey Face curve (frey-2 of paper_curves.py) and
compares. PyTorch picks its vectorised CPU kernels by CPU (AVX-512, AVX2 or plain), and they round
differently; training amplifies those differences, so a rerun cannot match to the last bit on every
CPU. This script measures by how much it may differ: it trains the same run for the first epochs
under each kernel choice this CPU supports (ATEN_CPU_CAPABILITY, one subprocess each, since torch
reads it at start-up) and with several seeds, and stores every curve in results/rerun_spread.json.
The notebook reads them: the spread across kernels with the stored seed is the tolerance of an
honest rerun, and the spread across seeds is how far a rerun lands once rounding has taken over.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paper_curves  # noqa: E402
from quality import machine_info, merge_result  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent / "results"
KERNELS = ("default", "avx2", "avx512")  # ATEN_CPU_CAPABILITY's values on x86; "default" is plain C++


# mistakes a rerun must catch: the recipe changed in one place, the stored seed kept
MISTAKES = {"step size doubled": dict(step_scale=2.0), "no weight decay (no prior on the weights)": dict(decay=0.0)}


def curves(run, epochs, seeds, step_scale=1.0, decay=1.0):
    """Train `run` of paper_curves.py with its stored step size for `epochs` epochs, once per seed.
    step_scale and decay change the recipe, to measure how far a mistaken rerun lands."""
    config = paper_curves.RUNS[run]
    data = paper_curves.load(config["dataset"])
    step_size = step_scale * json.loads((RESULTS / "paper_curves.json").read_text())[run]["step_size"]
    out = []
    for seed in seeds:
        model = paper_curves.make_model(config, seed)
        optimizer = paper_curves.make_optimizer(model, step_size, len(data.train))
        for group in optimizer.param_groups:
            group["weight_decay"] *= decay
        records = [paper_curves.train_epoch(model, optimizer, data, epoch, seed) for epoch in range(1, epochs + 1)]
        out.append({"seed": seed, "kernel": torch.backends.cpu.get_cpu_capability().lower(),
                    "train_elbo": [r["train_elbo"] for r in records],
                    "test_elbo": [r["test_elbo"] for r in records]})
    return out


def child(run, epochs, seeds, mistakes):
    """One kernel choice (set by the parent in ATEN_CPU_CAPABILITY): print the curves as JSON; with
    `mistakes`, the curves of the stored seed trained with each mistake instead."""
    torch.set_num_threads(1)  # as paper_curves.py trained
    if mistakes:
        print(json.dumps({name: curves(run, epochs, seeds, **change)[0] for name, change in MISTAKES.items()}))
    else:
        print(json.dumps(curves(run, epochs, seeds)))


def supported_kernels():
    """The kernel choices this CPU runs: torch falls back (with a warning) for the others."""
    found = []
    for kernel in KERNELS:
        code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
        got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "ATEN_CPU_CAPABILITY": kernel}).stdout.strip().lower()
        if got == kernel:
            found.append(kernel)
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="frey-2", choices=sorted(paper_curves.RUNS))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--out", default=str(RESULTS / "rerun_spread.json"))
    parser.add_argument("--workers", type=int, default=2, help="kernel subprocesses at once (default 2: two cores)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mistakes", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.run, args.epochs, args.seeds, args.mistakes)
    start, kernels = time.perf_counter(), supported_kernels()
    arguments = ["--child", "--run", args.run, "--epochs", str(args.epochs), "--seeds", *map(str, args.seeds)]

    stored_seed = json.loads((RESULTS / "paper_curves.json").read_text())[args.run]["seed"]

    def run_with(kernel):
        extra = [] if kernel else ["--mistakes", "--seeds", str(stored_seed)]  # None: the mistakes, native kernel
        env = {**os.environ, **({"ATEN_CPU_CAPABILITY": kernel} if kernel else {})}
        done = subprocess.run([sys.executable, __file__, *arguments, *extra], capture_output=True, text=True, env=env)
        if done.returncode:
            sys.exit(f"the run with ATEN_CPU_CAPABILITY={kernel} failed:\n{done.stderr[-2000:]}")
        return json.loads(done.stdout)

    with ThreadPoolExecutor(max_workers=args.workers) as pool:  # one process per kernel, `workers` at a time
        *per_kernel, mistakes = pool.map(run_with, [*kernels, None])
    results = [curve for kernel_curves in per_kernel for curve in kernel_curves]
    command = "python benchmarks/rerun_spread.py " + " ".join(argv if argv is not None else sys.argv[1:])
    merge_result(args.out, args.run, {
        "command": command.strip(), "epochs": args.epochs, "seeds": args.seeds, "kernels": kernels,
        "curves": results, "mistakes": mistakes, "machine": machine_info(), "seconds": time.perf_counter() - start,
        "load_average": os.getloadavg()[0], "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    })
    print(f"{len(results)} curves of {args.run} ({', '.join(kernels)}; seeds {args.seeds}) in {args.out}")


if __name__ == "__main__":
    sys.exit(main())
