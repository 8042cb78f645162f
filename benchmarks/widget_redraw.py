"""How long a slider move takes to redraw, in the kernel, for each explorer in vae_lite.widgets.

    python benchmarks/widget_redraw.py            # writes benchmarks/results/widget_redraw.json
    python benchmarks/widget_redraw.py --moves 20 --out /tmp/redraw.json

A "redraw" is everything the kernel does after a slider's value changes: read the sliders,
decode z under torch.inference_mode (the latent and interpolation explorers, with the default
MNIST model 784-400-20), render the PNG and set the Image and Label widgets. Setting a
widget's value runs its observers synchronously, so the time of `slider.value = v` is the
redraw time. Sending the new PNG to the browser is not included (it is a few kB over a local
websocket); tests/test_browser.py measures the whole round trip in a real page.
Target: under 100 ms per move for the latent explorer.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

import vae_lite
from vae_lite import pretrained, widgets
from vae_lite.data import atomic_write

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_MS = 100


def time_moves(slider, moves):
    """Milliseconds per value change, moving the slider back and forth across its range."""
    low, high = slider.min, slider.max
    times = []
    for i in range(moves):
        value = low + (high - low) * ((i * 7919) % 101) / 100  # spread over the range, no repeats in a row
        start = time.perf_counter()
        slider.value = value
        times.append(1000 * (time.perf_counter() - start))
    return times


def summary(times):
    ordered = sorted(times)
    return {"median_ms": round(statistics.median(times), 2),
            "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
            "max_ms": round(max(times), 2), "moves": len(times)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=50)
    parser.add_argument("--out", default=str(RESULTS / "widget_redraw.json"))
    args = parser.parse_args(argv)

    data = vae_lite.load_dataset("mnist")
    model = pretrained.default_model(data)
    explorers = {
        "latent_explorer (default MNIST model)": lambda: widgets.latent_explorer(model, data, start=data.test[0]),
        "interpolation_explorer (default MNIST model)": lambda: widgets.interpolation_explorer(model, data),
        "kl_explorer": widgets.kl_explorer,
        "reparameterization_explorer": widgets.reparameterization_explorer,
    }
    results = {}
    for name, make in explorers.items():
        explorer = make()
        slider = explorer.sliders[0] if hasattr(explorer, "sliders") else getattr(explorer, "t", None) or explorer.mu
        time_moves(slider, 3)  # warm-up: first calls allocate and load fonts
        results[name] = summary(time_moves(slider, args.moves))
        print(f"{name:46s} median {results[name]['median_ms']:7.2f} ms  p90 {results[name]['p90_ms']:7.2f} ms  "
              f"max {results[name]['max_ms']:7.2f} ms")
    latent = results["latent_explorer (default MNIST model)"]
    record = {
        "command": "python benchmarks/widget_redraw.py" + (f" --moves {args.moves}" if args.moves != 50 else ""),
        "what": "kernel-side time of one slider move: decode (inference_mode) + PNG + widget update",
        "target_ms": TARGET_MS,
        "latent_explorer_meets_target": latent["p90_ms"] < TARGET_MS,
        "results": results,
        "torch_threads": torch.get_num_threads(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": sys.version.split()[0], "torch": torch.__version__},
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: f.write((json.dumps(record, indent=2) + "\n").encode()))
    print(f"wrote {out}")
    return 0 if record["latent_explorer_meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
