"""How long the default model takes to train: pretrained.train_default_model, wall seconds on 2 threads.

    python benchmarks/default_seconds.py              # 3 runs; writes results/default_seconds.json
    python benchmarks/default_seconds.py --repeats 1

The target is at most 60 s on 2 cores (a minute of class). Each run trains the
default recipe from scratch in this process (MNIST, seed 0, fit's per-epoch test scoring
included) and times it from the first weight to the trained model. The machine is shared, so
the load average before and after each run is recorded beside it, and the median is reported.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

import vae_lite
from vae_lite import pretrained
from vae_lite._files import atomic_write

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import machine_info  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "results" / "default_seconds.json"
TARGET_SECONDS = 60


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dataset", default="mnist", help="another data set only for smoke tests")
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = vae_lite.load_dataset(args.dataset)
    runs = []
    for _ in range(args.repeats):
        load_before, start, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
        model = pretrained.train_default_model(data)
        runs.append({"seconds": round(time.perf_counter() - start, 2), "cpu_seconds": round(time.process_time() - cpu, 2),
                     "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)]})
        print(f"trained in {runs[-1]['seconds']:.1f} s ({runs[-1]['cpu_seconds']:.1f} CPU-s)", flush=True)
    median = statistics.median(r["seconds"] for r in runs)
    result = {
        "command": "python benchmarks/default_seconds.py" + (f" --repeats {args.repeats}" if args.repeats != 3 else ""),
        "dataset": data.name, "threads": args.threads, "recipe": pretrained.TRAINING, "settings": pretrained.SETTINGS,
        "test_neg_elbo": -vae_lite.evaluate(model, vae_lite.binarized_test_set(data))["elbo"],
        "runs": runs, "median_seconds": median, "target_seconds": TARGET_SECONDS, "met": median <= TARGET_SECONDS,
        "machine": machine_info(), "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    atomic_write(Path(args.out), lambda f: f.write(json.dumps(result, indent=1).encode()))
    print(f"median {median:.1f} s on {args.threads} threads (target {TARGET_SECONDS} s): "
          f"{'met' if result['met'] else 'missed'}; test -ELBO {result['test_neg_elbo']:.2f}")


if __name__ == "__main__":
    main()
