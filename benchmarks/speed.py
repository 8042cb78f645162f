"""Training speed: vae_lite.fit against the common pipeline, a bare loop and the hardware floor.

    python benchmarks/speed.py                 # full MNIST, 5 interleaved repeats (~5 minutes)
    python benchmarks/speed.py --quick --out /tmp/speed.json   # 8x8 digits, seconds (smoke test)

All in one process, on the same training set, the same VAE (784-400-20 MLP, Bernoulli
decoder), batch 128, the same number of torch threads (2), one epoch each:

  fit            vae_lite.fit(..., epochs=1, progress=False), including its test evaluation
  fit_progress   the same with the tqdm progress bar (progress=True), output discarded
  reference      the pytorch/examples VAE pattern: a per-item Dataset turning each uint8 image
                 into a float tensor (through PIL, as torchvision's MNIST + ToTensor does), a
                 DataLoader with shuffle=True, the same model and loss, and a test pass through
                 a test DataLoader, as the example runs it
  bare           the least code that does the same training: one in-memory float tensor indexed
                 by randperm, the same dynamic binarization, model, loss and Adam; no evaluation
  bare_fused_adam    the bare loop with Adam(fused=True), which fit uses by default: the same
                 algorithm in fewer kernels; fit against this one shows fit's own overhead
  bare_no_binarize   the bare loop on grey-scale pixels (no bernoulli sampling), for reference

Every variant binarizes the training batches (the same work as fit; see bare_no_binarize for
what that sampling costs). The variants are run in turn, `repeats` times, in a shuffled order
each round, and the medians are reported, so drift in the load of this shared machine hits
them alike. The floor is the epoch's floating-point operations (counted by
torch.utils.flop_counter on one step) divided by the rate of a large matrix product measured
in the same run. Peak memory: each variant runs once more in its own subprocess, which
reports its peak resident set size (VmHWM) and its resident size just before training.
"""

import argparse
import contextlib
import io
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

import vae_lite
from vae_lite.data import atomic_write

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"fit_over_bare": 1.05, "reference_over_fit": 1.8, "fit_flop_fraction_of_matmul": 0.55}
VARIANTS = ("fit", "fit_progress", "reference", "bare", "bare_fused_adam", "bare_no_binarize")


# ------------------------------------------------------------------------------ the data


def load_images(dataset, train_size=None, test_size=None):
    """uint8 arrays (N, 28, 28) as stored on disk, for the reference pipeline, and the same as ImageData."""
    if dataset == "digits":
        data = vae_lite.load_dataset("digits")
        train_u8 = (data.train[:, 0] * 255).round().to(torch.uint8).numpy()
        test_u8 = (data.test[:, 0] * 255).round().to(torch.uint8).numpy()
    else:
        paths = vae_lite.data.find_files(dataset)
        if paths is None:
            raise SystemExit(f"{dataset} not found; set VAE_LITE_DATA (see vae_lite.load_dataset) or use --quick")
        train_u8, _, test_u8, _ = (vae_lite.read_idx(p) for p in paths)
    train_u8, test_u8 = train_u8[:train_size], test_u8[:test_size]
    return train_u8, test_u8


class PerItemImages(torch.utils.data.Dataset):
    """The torchvision-MNIST pattern: each item is a uint8 image turned into a float tensor on access."""

    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image

        image = Image.fromarray(self.images[i], mode="L")  # what torchvision.datasets.MNIST returns
        array = np.array(image, dtype=np.uint8, copy=True)  # what transforms.ToTensor() then does
        x = torch.from_numpy(array).view(1, *array.shape).float().div(255)
        return x, 0  # (image, label), as a DataLoader over MNIST yields


def new_model(image_shape):
    return vae_lite.VAE(image_shape, latent_dim=20, hidden=400)


# ------------------------------------------------------------------------------ the variants


def run_fit(setup, progress=False):
    model = new_model(setup["data"].image_shape)
    sink = io.StringIO()
    with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
        vae_lite.fit(model, setup["data"], epochs=1, batch_size=setup["batch_size"], device="cpu",
                     progress=progress)


def run_reference(setup):
    """pytorch/examples vae/main.py on the CPU, with the same model, loss and binarization."""
    torch.manual_seed(1)
    model = new_model(setup["data"].image_shape)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_loader = torch.utils.data.DataLoader(PerItemImages(setup["train_u8"]),
                                               batch_size=setup["batch_size"], shuffle=True)
    test_loader = torch.utils.data.DataLoader(PerItemImages(setup["test_u8"]),
                                              batch_size=setup["batch_size"], shuffle=False)
    model.train()
    for x, _ in train_loader:
        x = torch.bernoulli(x)
        loss, _ = model.loss(x)
        optimizer.zero_grad()
        loss.mean().backward()
        optimizer.step()
    model.eval()
    test_loss = 0.0
    with torch.no_grad():
        for x, _ in test_loader:
            test_loss += model.loss(torch.bernoulli(x))[0].sum().item()
    return test_loss


def run_bare(setup, binarize=True, fused=False):
    torch.manual_seed(1)
    model = new_model(setup["data"].image_shape)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)
    train, batch_size = setup["data"].train, setup["batch_size"]
    order = torch.randperm(len(train))
    for start in range(0, len(train), batch_size):
        x = train[order[start:start + batch_size]]
        if binarize:
            x = torch.bernoulli(x)
        loss, _ = model.loss(x)
        optimizer.zero_grad()
        loss.mean().backward()
        optimizer.step()


RUNNERS = {
    "fit": run_fit,
    "fit_progress": lambda setup: run_fit(setup, progress=True),
    "reference": run_reference,
    "bare": run_bare,
    "bare_fused_adam": lambda setup: run_bare(setup, fused=True),
    "bare_no_binarize": lambda setup: run_bare(setup, binarize=False),
}


def timed(function, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    function(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


# ------------------------------------------------------------------------------ the floor


def matmul_flops_per_second(size, repeats):
    """The best rate of an fp32 (size x size) @ (size x size) product (2 size^3 operations each),
    by wall time and by this process's CPU time per thread."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    rates, cpu_rates = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        a @ b
        rates.append(2 * size**3 / (time.perf_counter() - wall))
        cpu_rates.append(2 * size**3 / ((time.process_time() - cpu) / torch.get_num_threads()))
    return max(rates), max(cpu_rates)


def epoch_flops(data, batch_size):
    """Floating-point operations of one fit epoch: training steps plus the test evaluation.

    Counted by torch's FlopCounterMode (matrix products only; element-wise work is left out,
    so the floor is optimistic) on one full batch, times the number of examples.
    """
    from torch.utils.flop_counter import FlopCounterMode

    model = new_model(data.image_shape)
    x = torch.bernoulli(data.train[:batch_size])
    with FlopCounterMode(display=False) as counter:
        loss, _ = model.loss(x)
        loss.mean().backward()
    train_per_example = counter.get_total_flops() / len(x)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.loss(x)
    test_per_example = counter.get_total_flops() / len(x)
    n_test = 0 if data.test is None else len(data.test)
    return {
        "train_per_example": train_per_example, "test_per_example": test_per_example,
        "train": train_per_example * len(data.train), "test": test_per_example * n_test,
        "total": train_per_example * len(data.train) + test_per_example * n_test,
    }


# ------------------------------------------------------------------------------ memory


def rss_bytes():
    import psutil

    return psutil.Process().memory_info().rss


def memory_child(variant, args):
    """Run one variant in this (fresh) process and print its memory use as JSON."""
    setup = make_setup(args, float_copy=variant != "reference")
    before = rss_bytes()
    RUNNERS[variant](setup)
    # VmHWM, the peak of this process's own memory; ru_maxrss would not do, since Linux carries
    # the parent's size over into a child started with fork + exec
    peak = next(int(line.split()[1]) * 1024 for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM:"))
    print(json.dumps({"rss_before_training": before, "peak_rss": peak}))


def measure_memory(variant, args):
    command = [sys.executable, __file__, "--memory-child", variant, "--threads", str(args.threads),
               "--dataset", args.dataset, "--batch-size", str(args.batch_size)]
    if args.train_size:
        command += ["--train-size", str(args.train_size)]
    if args.test_size:
        command += ["--test-size", str(args.test_size)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    numbers = json.loads(out.strip().splitlines()[-1])
    numbers["peak_rss_mb"] = numbers["peak_rss"] / 2**20
    numbers["training_increase_mb"] = (numbers["peak_rss"] - numbers["rss_before_training"]) / 2**20
    return numbers


# ------------------------------------------------------------------------------ profile


def profile_fit(setup, top=12):
    """Where one fit epoch spends its time, by torch operator (self CPU time)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run_fit(setup)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [{"op": e.key, "calls": e.count, "self_seconds": e.self_cpu_time_total / 1e6,
             "share": e.self_cpu_time_total / total} for e in events[:top]]


# ------------------------------------------------------------------------------ main


def make_setup(args, float_copy=True):
    """The uint8 images and, unless float_copy=False (the reference pipeline needs none), an ImageData."""
    torch.set_num_threads(args.threads)
    train_u8, test_u8 = load_images(args.dataset, args.train_size, args.test_size)
    data = vae_lite.ImageData.from_arrays(train_u8 if float_copy else train_u8[:1],
                                          test_u8 if float_copy else test_u8[:1], name=args.dataset)
    return {"data": data, "train_u8": train_u8, "test_u8": test_u8, "batch_size": args.batch_size}


def machine_info():
    import psutil

    cpu = platform.processor()
    with contextlib.suppress(OSError):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    return {"processor": cpu, "cpu_count": os.cpu_count(), "memory_gb": psutil.virtual_memory().total / 2**30,
            "python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "platform": platform.platform(), "load_average_at_start": os.getloadavg()}


def benchmark(args, log=print):
    setup = make_setup(args)
    data = setup["data"]
    log(f"data: {data}; threads {torch.get_num_threads()}; batch {args.batch_size}; repeats {args.repeats}")
    for name in VARIANTS:  # warm-up: first calls pay for lazy initialisation
        RUNNERS[name]({**setup, "data": data.subset(train=4 * args.batch_size, test=4 * args.batch_size),
                       "train_u8": setup["train_u8"][:4 * args.batch_size],
                       "test_u8": setup["test_u8"][:4 * args.batch_size]})
    times = {name: [] for name in VARIANTS}
    cpu_times = {name: [] for name in VARIANTS}
    matmul, matmul_cpu = [], []
    rng = random.Random(0)
    for rep in range(args.repeats):
        order = list(VARIANTS)
        rng.shuffle(order)
        for name in order:
            wall, cpu = timed(RUNNERS[name], setup)
            times[name].append(wall)
            cpu_times[name].append(cpu)
        rate, cpu_rate = matmul_flops_per_second(args.matmul_size, 5)
        matmul.append(rate)
        matmul_cpu.append(cpu_rate)
        log(f"round {rep + 1}/{args.repeats}: " + ", ".join(f"{n} {times[n][-1]:.2f} s" for n in VARIANTS)
            + f", matmul {matmul[-1] / 1e9:.0f} GFLOP/s")

    median = {name: statistics.median(v) for name, v in times.items()}
    # ratios per round too: both runs of a round saw about the same load
    paired = lambda a, b: statistics.median(x / y for x, y in zip(times[a], times[b]))
    flops = epoch_flops(data, args.batch_size)
    matmul_rate = statistics.median(matmul)
    fit_rate = flops["total"] / median["fit"]
    cpu = {name: statistics.median(v) for name, v in cpu_times.items()}
    # the same measures by CPU time: on a busy machine wall time also counts waiting for a core
    fit_cpu_rate = flops["total"] / (cpu["fit"] / args.threads)
    results = {
        "fit_over_bare": median["fit"] / median["bare"],
        "fit_over_bare_paired": paired("fit", "bare"),
        "reference_over_fit": median["reference"] / median["fit"],
        "reference_over_fit_paired": paired("reference", "fit"),
        "fit_flop_fraction_of_matmul": fit_rate / matmul_rate,
        "fit_progress_over_fit": median["fit_progress"] / median["fit"],
        "fit_over_bare_fused_adam": median["fit"] / median["bare_fused_adam"],
        "bare_fused_adam_over_bare": median["bare_fused_adam"] / median["bare"],
        "fit_over_bare_no_binarize": median["fit"] / median["bare_no_binarize"],
        "floor_seconds": flops["total"] / matmul_rate,
        "fit_over_floor": median["fit"] / (flops["total"] / matmul_rate),
        "fit_gflops": fit_rate / 1e9,
        "matmul_gflops": matmul_rate / 1e9,
        "by_cpu_time": {
            "fit_over_bare": cpu["fit"] / cpu["bare"],
            "reference_over_fit": cpu["reference"] / cpu["fit"],
            "fit_over_bare_fused_adam": cpu["fit"] / cpu["bare_fused_adam"],
            "fit_flop_fraction_of_matmul": fit_cpu_rate / statistics.median(matmul_cpu),
            "matmul_gflops_per_thread": statistics.median(matmul_cpu) / 1e9,
            "note": "CPU seconds per thread; exact on 1 thread, with 2 threads it includes time spent waiting "
                    "in the thread pool",
        },
    }
    report = {
        "what": "one epoch of each variant; seconds are medians over interleaved rounds",
        "config": {"dataset": args.dataset, "train_images": len(data.train), "test_images": len(data.test),
                   "model": "VAE(latent_dim=20, hidden=400), Bernoulli decoder, Adam lr 1e-3",
                   "batch_size": args.batch_size, "threads": args.threads, "repeats": args.repeats,
                   "matmul_size": args.matmul_size, "fit_progress": "fit_progress uses progress=True; "
                   "fit uses progress=False", "binarization": "every variant binarizes its training batches"},
        "command": " ".join(["python", "benchmarks/speed.py", *sys.argv[1:]]),
        "seconds_median": median,
        "seconds": times,
        "cpu_seconds_median": cpu,
        "matmul_gflops_per_round": [m / 1e9 for m in matmul],
        "flops": flops,
        "results": results,
        "targets": TARGETS,
        "met": {
            "fit_over_bare": results["fit_over_bare"] <= TARGETS["fit_over_bare"],
            "reference_over_fit": results["reference_over_fit"] >= TARGETS["reference_over_fit"],
            "fit_flop_fraction_of_matmul":
                results["fit_flop_fraction_of_matmul"] >= TARGETS["fit_flop_fraction_of_matmul"],
        },
        "machine": machine_info(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    if not args.skip_memory:
        report["memory"] = {name: measure_memory(name, args) for name in VARIANTS}
    if args.profile or not all(report["met"].values()):
        report["fit_profile_top_ops"] = profile_fit(setup)
    report["machine"]["load_average_at_end"] = os.getloadavg()
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8x8 digits, 1 round: seconds, for tests")
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist", "digits"])
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--test-size", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--profile", action="store_true", help="profile fit even when every target is met")
    parser.add_argument("--out", default=str(RESULTS / "speed.json"))
    parser.add_argument("--memory-only", action="store_true",
                        help="only measure peak memory, into the existing results file --out")
    parser.add_argument("--memory-child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.dataset, args.repeats, args.matmul_size = "digits", 1, 512
    if args.memory_child:
        return memory_child(args.memory_child, args)
    if args.memory_only:
        report = json.loads(Path(args.out).read_text())
        report["memory"] = {name: measure_memory(name, args) for name in VARIANTS}
        atomic_write(args.out, lambda f: f.write(json.dumps(report, indent=1).encode()))
        print({name: round(m["peak_rss_mb"]) for name, m in report["memory"].items()})
        return
    report = benchmark(args, log=lambda *a: print(*a, flush=True))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: f.write(json.dumps(report, indent=1).encode()))
    r = report["results"]
    print(f"fit/bare {r['fit_over_bare']:.3f} (target <= 1.05), reference/fit {r['reference_over_fit']:.2f} "
          f"(>= 1.8), fit at {100 * r['fit_flop_fraction_of_matmul']:.0f}% of matmul (>= 55%); wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
