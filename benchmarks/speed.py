"""Training speed and memory: vae_lite.fit against the pytorch/examples pipeline and a bare loop.

    python benchmarks/speed.py                                  # full MNIST, 3 interleaved rounds
    python benchmarks/speed.py --quick --out /tmp/speed.json    # 8x8 digits, seconds (smoke test)

One epoch of each, in one process, on the same images, model (the default VAE: MLP encoder
784-256, decoder 50-512-784, Bernoulli), batch size and number of torch threads; each binarizes its training batches
with vae_lite.binarize, so all three do the same work:

  fit        vae_lite.fit(..., epochs=1, progress=False), including its test evaluation
  reference  pytorch/examples vae/main.py's pipeline: a per-item Dataset turning each uint8 image
             into a float tensor through PIL (torchvision's MNIST + ToTensor), a shuffling
             DataLoader, and a test pass through a test DataLoader
  bare       the least code that trains the same: one float tensor indexed by randperm, Adam

Each round runs the three in a shuffled order, so drift in the load of a shared machine hits
them alike; the medians are reported, with CPU seconds (the work done, whatever the load) and
ratios paired per round. Peak memory: each variant runs once more in a fresh subprocess that
reports its own high-water mark (VmHWM).
"""

import argparse
import contextlib
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

import vae_lite
from vae_lite._files import atomic_write

TARGETS = {"fit_over_bare": 1.05, "reference_over_fit": 1.8}  # fit at most 5 % slower; reference 1.8 x fit


class PerItemImages(torch.utils.data.Dataset):
    """The torchvision-MNIST pattern: each item is a uint8 image turned into a float tensor on access."""

    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image

        array = np.array(Image.fromarray(self.images[i], mode="L"), dtype=np.uint8)  # MNIST, then ToTensor
        return torch.from_numpy(array).unsqueeze(0).float().div(255), 0  # (image (1, H, W), label)


def fit(data, images, batch_size):
    with contextlib.redirect_stdout(io.StringIO()):
        vae_lite.fit(vae_lite.VAE(data.image_shape), data, epochs=1, batch_size=batch_size, device="cpu",
                     progress=False)


def reference(data, images, batch_size):
    model = vae_lite.VAE(data.image_shape)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for x, _ in torch.utils.data.DataLoader(PerItemImages(images["train"]), batch_size, shuffle=True):
        loss, _ = model.loss(vae_lite.binarize(x))
        optimizer.zero_grad()
        loss.mean().backward()
        optimizer.step()
    with torch.no_grad():
        for x, _ in torch.utils.data.DataLoader(PerItemImages(images["test"]), batch_size):
            model.loss(vae_lite.binarize(x))


def bare(data, images, batch_size):
    model = vae_lite.VAE(data.image_shape)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(len(data.train))
    for start in range(0, len(data.train), batch_size):
        loss, _ = model.loss(vae_lite.binarize(data.train[order[start:start + batch_size]]))
        optimizer.zero_grad()
        loss.mean().backward()
        optimizer.step()


VARIANTS = {"fit": fit, "reference": reference, "bare": bare}


def load(args, floats=True):
    """The images as uint8 arrays (N, H, W), as stored on disk, and as an ImageData of floats
    (for fit and bare; floats=False leaves out most of it, which the reference pipeline does without)."""
    torch.set_num_threads(args.threads)
    if args.dataset == "digits":
        digits = vae_lite.load_dataset("digits")
        images = [(x[:, 0] * 255).round().to(torch.uint8).numpy() for x in (digits.train, digits.test)]
    else:
        paths = vae_lite.data.find_files(args.dataset)
        if paths is None:
            raise SystemExit(f"{args.dataset} not found; set VAE_LITE_DATA (see vae_lite.load_dataset) or use --quick")
        images = [vae_lite.read_idx(paths[0]), vae_lite.read_idx(paths[2])]
    images = {"train": images[0][:args.train_size], "test": images[1][:args.test_size]}
    cut = slice(None) if floats else slice(1)
    return vae_lite.ImageData.from_arrays(images["train"][cut], images["test"][cut], name=args.dataset), images


def measure_memory(variant, args):
    """Peak and starting resident memory (bytes, MB) of one variant, run in a fresh process."""
    command = [sys.executable, __file__, "--memory-child", variant, "--threads", str(args.threads),
               "--dataset", args.dataset, "--batch-size", str(args.batch_size)]
    command += [f"--{name}-size={size}" for name, size in (("train", args.train_size), ("test", args.test_size)) if size]
    numbers = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
    numbers["peak_rss_mb"] = numbers["peak_rss"] / 2**20
    numbers["training_increase_mb"] = (numbers["peak_rss"] - numbers["rss_before_training"]) / 2**20
    return numbers


def memory_child(variant, args):
    data, images = load(args, floats=variant != "reference")
    before = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    VARIANTS[variant](data, images, args.batch_size)
    # VmHWM, this process's own peak: ru_maxrss would also count the parent's size, carried over by fork
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"rss_before_training": before, "peak_rss": peak}))


def benchmark(args):
    data, images = load(args)
    print(f"{data}; {args.threads} threads, batch {args.batch_size}, {args.repeats} rounds", flush=True)
    for run in VARIANTS.values():  # warm-up: the first calls pay for lazy initialisation
        run(data.subset(4 * args.batch_size, 4 * args.batch_size),
            {k: v[:4 * args.batch_size] for k, v in images.items()}, args.batch_size)
    wall, cpu = {name: [] for name in VARIANTS}, {name: [] for name in VARIANTS}
    rng = random.Random(0)
    for round_ in range(args.repeats):
        for name in rng.sample(list(VARIANTS), len(VARIANTS)):
            start, start_cpu = time.perf_counter(), time.process_time()
            VARIANTS[name](data, images, args.batch_size)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
        print(f"round {round_ + 1}: " + ", ".join(f"{n} {wall[n][-1]:.2f} s" for n in VARIANTS), flush=True)
    median = {name: statistics.median(v) for name, v in wall.items()}
    cpu_median = {name: statistics.median(v) for name, v in cpu.items()}
    paired = lambda a, b: statistics.median(x / y for x, y in zip(wall[a], wall[b]))  # one round, one load
    results = {
        "fit_over_bare": median["fit"] / median["bare"], "fit_over_bare_paired": paired("fit", "bare"),
        "reference_over_fit": median["reference"] / median["fit"],
        "reference_over_fit_paired": paired("reference", "fit"),
        "by_cpu_time": {"fit_over_bare": cpu_median["fit"] / cpu_median["bare"],
                        "reference_over_fit": cpu_median["reference"] / cpu_median["fit"]},
    }
    return {
        "config": {"dataset": args.dataset, "train_images": len(data.train), "test_images": len(data.test),
                   "model": "VAE(latent_dim=20, hidden=400), Bernoulli decoder, Adam lr 1e-3",
                   "batch_size": args.batch_size, "threads": args.threads, "repeats": args.repeats},
        "command": " ".join(["python", "benchmarks/speed.py", *sys.argv[1:]]),
        "seconds": wall, "seconds_median": median, "cpu_seconds_median": cpu_median,
        "results": results, "targets": TARGETS,
        "met": {"fit_over_bare": results["fit_over_bare"] <= TARGETS["fit_over_bare"],
                "reference_over_fit": results["reference_over_fit"] >= TARGETS["reference_over_fit"]},
        "memory": {} if args.skip_memory else {name: measure_memory(name, args) for name in VARIANTS},
        "machine": {"cpu_count": os.cpu_count(), "torch": torch.__version__, "load_average_at_start": os.getloadavg()},
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8x8 digits, 1 round: seconds, for tests")
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist", "digits"])
    parser.add_argument("--train-size", type=int)
    parser.add_argument("--test-size", type=int)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "results" / "speed.json"))
    parser.add_argument("--memory-child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.dataset, args.repeats = "digits", 1
    if args.memory_child:
        return memory_child(args.memory_child, args)
    report = benchmark(args)
    atomic_write(Path(args.out), lambda f: f.write(json.dumps(report, indent=1).encode()))
    r = report["results"]
    print(f"fit/bare {r['fit_over_bare']:.3f} (target <= {TARGETS['fit_over_bare']}), reference/fit "
          f"{r['reference_over_fit']:.2f} (>= {TARGETS['reference_over_fit']}); wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
