"""Model quality: test negative ELBO and importance-weighted NLL, in nats per example.

    python benchmarks/quality.py mnist-10       # the default VAE, 10 epochs (pytorch/examples' length)
    python benchmarks/quality.py mnist-long     # a larger VAE, <= 15 min of 2-core CPU training
    python benchmarks/quality.py fashion-long   # the same on Fashion-MNIST
    python benchmarks/quality.py fashion-10     # the default VAE, 10 epochs, on Fashion-MNIST
    python benchmarks/quality.py digits-quick --out /tmp/q.json   # seconds; used by the smoke test

Every configuration is the table CONFIGS below; the result (numbers plus the configuration
and the command) is merged into results/quality.json under the configuration's name.

Protocol. Training images are binarized anew every epoch (dynamic binarization: fit does
this for a Bernoulli decoder); the test set is binarized once with a fixed seed
(vae_lite.binarized_test_set), so numbers from different runs are comparable. The IW NLL is
-log p(x) estimated with k=5000 importance samples (Burda et al., 2015) on all test images.
The pytorch/examples VAE prints 105.6 after 10 epochs: that is a binary cross-entropy on
grey-scale images plus the KL, not a negative log-likelihood (a Bernoulli likelihood is only
a likelihood on binary data), so it does not compare with the numbers here.
"""

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

import vae_lite
import vae_lite.pretrained
from vae_lite._files import atomic_write

RESULTS = Path(__file__).resolve().parent.parent / "results"

CONFIGS = {
    # the package's default model: vae_lite.pretrained.train_default_model, the recipe that made
    # vae_lite/checkpoints/mnist_vae.pt (encoder 784-256, decoder 50-512-784, one-cycle epochs, KL
    # warm-up, mean start)
    "mnist-default": dict(dataset="mnist", **vae_lite.pretrained.SETTINGS, **vae_lite.pretrained.TRAINING,
                          default_recipe=True, cosine=False, kl_warmup=0, k=5000, save=None),
    # the package defaults, as a student runs them: vae_lite.fit(VAE(...), data, epochs=10)
    "mnist-10": dict(dataset="mnist", hidden=400, latent_dim=20, epochs=10, batch_size=128,
                     lr=1e-3, cosine=False, kl_warmup=0, k=5000, save=None),
    # two hidden layers and 50 latent dimensions (like Burda et al.'s VAE, wider), a higher
    # learning rate decayed to zero (cosine) and the KL weight raised from 0 to 1 over the
    # first epochs (keeps latent dimensions from collapsing early); the epoch count is
    # what fits in 15 minutes of training on our 2-core CPU
    "mnist-long": dict(dataset="mnist", hidden=[400, 400], latent_dim=50, epochs=100, batch_size=256,
                       lr=1.5e-3, cosine=True, kl_warmup=10, k=5000, save="mnist_long.pt"),
    "fashion-long": dict(dataset="fashion-mnist", hidden=[400, 400], latent_dim=50, epochs=100,
                         batch_size=256, lr=1.5e-3, cosine=True, kl_warmup=10, k=5000, save=None),
    "fashion-10": dict(dataset="fashion-mnist", hidden=400, latent_dim=20, epochs=10, batch_size=128,
                       lr=1e-3, cosine=False, kl_warmup=0, k=5000, save=None),
    # for tests: seconds on scikit-learn's 8x8 digits
    "digits-quick": dict(dataset="digits", hidden=64, latent_dim=4, epochs=2, batch_size=64,
                         lr=1e-3, cosine=True, kl_warmup=1, k=50, save=None),
}


def learning_rate(config, epoch):
    """The learning rate of epoch 1..epochs: constant, or cosine-decayed from lr towards 0."""
    if not config["cosine"]:
        return config["lr"]
    return config["lr"] * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / config["epochs"]))


def kl_weight(config, epoch):
    """beta of epoch 1..epochs: 1, or rising linearly to 1 over the first kl_warmup epochs."""
    return min(1.0, epoch / config["kl_warmup"]) if config["kl_warmup"] else 1.0


def train(config, data, seed, log, state_path=None, max_minutes=None):
    """Train a VAE as the configuration says; return the model, the per-epoch records, seconds and
    CPU seconds, and whether all epochs ran.

    With state_path, the model, Adam and the records are saved there every epoch and a later
    run resumes from them (a long run can be stopped and continued); with max_minutes the
    training stops after that much wall time, unfinished.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    if config.get("default_recipe"):  # exactly what pretrained.default_model trains
        model = vae_lite.pretrained.train_default_model(data, seed=seed)
        return model, [], time.perf_counter() - start, time.process_time() - cpu_start, True
    torch.manual_seed(seed)
    model = vae_lite.VAE(data.image_shape, latent_dim=config["latent_dim"], hidden=config["hidden"])
    plain = not config["cosine"] and not config["kl_warmup"]
    if plain:  # exactly what a student runs
        history = vae_lite.fit(model, data, epochs=config["epochs"], batch_size=config["batch_size"],
                               lr=config["lr"], device="cpu", seed=seed, progress=False)
        return model, history.records, time.perf_counter() - start, time.process_time() - cpu_start, True
    # one fit call per epoch, keeping one Adam; a new seed per call gives each epoch
    # its own order and its own binarization
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    records, spent, cpu_spent = [], 0.0, 0.0
    if state_path and Path(state_path).exists():
        state = torch.load(state_path, weights_only=True)
        if state["config"] == json.loads(json.dumps(config)) and state["seed"] == seed:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            records, spent, cpu_spent = state["records"], state["seconds"], state["cpu_seconds"]
            torch.set_rng_state(state["rng"])
            log(f"resuming from {state_path} after epoch {len(records)}")
    for epoch in range(len(records) + 1, config["epochs"] + 1):
        if max_minutes is not None and time.perf_counter() - start > 60 * max_minutes:
            log(f"stopping after {max_minutes} minutes, at epoch {epoch - 1} of {config['epochs']}")
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, epoch)
        beta = kl_weight(config, epoch)
        history = vae_lite.fit(model, data, epochs=1, batch_size=config["batch_size"], beta=beta,
                               device="cpu", seed=seed * 100_000 + epoch, progress=False,
                               optimizer=optimizer)
        records.append({**history.last, "epoch": epoch, "beta": beta, "lr": learning_rate(config, epoch)})
        if state_path:
            state = {"config": config, "seed": seed, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "records": records, "rng": torch.get_rng_state(),
                     "seconds": spent + time.perf_counter() - start,
                     "cpu_seconds": cpu_spent + time.process_time() - cpu_start}
            atomic_write(state_path, lambda f: torch.save(state, f))
        if epoch == 1 or epoch % 10 == 0 or epoch == config["epochs"]:
            log(f"epoch {epoch}: test loss {history.last.get('test_loss', float('nan')):.2f} "
                f"(beta {beta:.2f}), {spent + time.perf_counter() - start:.0f} s")
    complete = len(records) == config["epochs"]
    if complete and state_path:
        Path(state_path).unlink(missing_ok=True)
    return (model, records, spent + time.perf_counter() - start, cpu_spent + time.process_time() - cpu_start,
            complete)


def run(name, out, threads=2, seed=0, test_subset=None, k=None, iw_images=None, max_minutes=None, log=print):
    config = dict(CONFIGS[name])
    if k is not None:
        config["k"] = k
    torch.set_num_threads(threads)
    data = vae_lite.load_dataset(config["dataset"], download=False)
    if test_subset:
        data = data.subset(test=test_subset)
    log(f"{name}: {data}, config {config}")
    load_before = os.getloadavg()[0]
    state_path = Path(out).parent / f"{name}.partial.pt"
    model, records, train_seconds, train_cpu_seconds, complete = train(config, data, seed, log, state_path,
                                                                        max_minutes)
    load_after = os.getloadavg()[0]
    model.eval()

    test = vae_lite.binarized_test_set(data)
    final = vae_lite.evaluate(model, test, beta=1.0)
    start = time.perf_counter()
    iw_test = test[:iw_images] if iw_images else test
    log_px = vae_lite.iw_log_likelihood(model, iw_test, k=config["k"], generator=torch.Generator().manual_seed(seed))
    # the ELBO on the same images, so the gap ELBO - log p(x) is measured on one set
    iw_test_elbo = vae_lite.evaluate(model, iw_test, beta=1.0)["elbo"]
    iw_seconds = time.perf_counter() - start
    result = {
        "config": config,
        "command": f"python benchmarks/quality.py {name} --threads {threads}"
                   + (f" --test-subset {test_subset}" if test_subset else "")
                   + (f" --k {k}" if k is not None else "") + (f" --iw-images {iw_images}" if iw_images else "")
                   + (f" --max-minutes {max_minutes}" if max_minutes else ""),
        "complete": complete,
        # train_default_model keeps no records, and it always trains every epoch
        "epochs_trained": config["epochs"] if config.get("default_recipe") else len(records),
        "test_images": len(test),
        "test_neg_elbo": -final["elbo"],
        "test_reconstruction": -final["reconstruction"],
        "test_kl": final["kl"],
        "iw_nll": -log_px.mean().item(),
        "iw_nll_std_error": (log_px.std() / math.sqrt(len(log_px))).item(),
        "iw_k": config["k"],
        "iw_test_images": len(iw_test),
        "iw_test_neg_elbo": -iw_test_elbo,
        "active_units": active_units(model, test),
        "train_seconds": train_seconds,
        # CPU time of this process: on a shared machine wall time also counts the others' jobs
        "train_cpu_seconds": train_cpu_seconds,
        "load_average_before_after_training": [load_before, load_after],
        "iw_seconds": iw_seconds,
        "threads": threads,
        "seed": seed,
        "epochs": [{k: v for k, v in r.items()} for r in records],
        "machine": machine_info(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    if config.get("default_recipe"):  # the shipped checkpoint should be this very model, retrained
        shipped = vae_lite.load(vae_lite.pretrained.CHECKPOINT).state_dict()
        result["same_weights_as_shipped_checkpoint"] = all(
            torch.allclose(value, shipped[key], atol=1e-5) for key, value in model.state_dict().items())
    if config.get("save"):
        path = vae_lite.save(model, Path(out).parent / config["save"], dataset=config["dataset"],
                             epochs=config["epochs"], test_neg_elbo=result["test_neg_elbo"],
                             iw_nll=result["iw_nll"])
        result["checkpoint"] = str(path.relative_to(Path(__file__).resolve().parent.parent)) \
            if path.resolve().is_relative_to(Path(__file__).resolve().parent.parent) else str(path)
    merge_result(out, name, result)
    log(f"{name}: test -ELBO {result['test_neg_elbo']:.2f}, IW NLL (k={config['k']}, {len(iw_test)} images) "
        f"{result['iw_nll']:.2f} "
        f"+- {result['iw_nll_std_error']:.2f} nats; training {train_seconds:.0f} s, IW {iw_seconds:.0f} s")
    return result


@torch.inference_mode()
def active_units(model, test, threshold=0.01):
    """Latent dimensions whose posterior mean varies over the test set (Cov_x E_q[z] > 0.01, Burda et al.)."""
    mu = torch.cat([model.encode(test[i:i + 1000])[0] for i in range(0, len(test), 1000)])
    return int((mu.var(dim=0) > threshold).sum())


def machine_info():
    return {
        "python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
        "processor": _cpu_name(), "platform": platform.platform(),
    }


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def merge_result(out, name, result):
    """Add one configuration's result to the JSON file at `out`, written atomically."""
    from filelock import FileLock

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):  # two configurations may finish at the same time
        results = json.loads(out.read_text()) if out.exists() else {}
        results[name] = result
        atomic_write(out, lambda f: f.write(json.dumps(results, indent=1).encode()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="+", choices=sorted(CONFIGS))
    parser.add_argument("--out", default=str(RESULTS / "quality.json"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-subset", type=int, default=None, help="score only the first N test images")
    parser.add_argument("--k", type=int, default=None, help="importance samples (default: the configuration's)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop training after this many minutes (the result is marked incomplete; "
                             "running the same command again resumes from results/<config>.partial.pt)")
    parser.add_argument("--iw-images", type=int, default=None,
                        help="estimate the IW NLL on the first N test images only (default: all; it costs k "
                             "decoder passes per image)")
    args = parser.parse_args(argv)
    for name in args.configs:
        run(name, args.out, args.threads, args.seed, args.test_subset, args.k, args.iw_images, args.max_minutes,
            log=lambda *a: print(*a, flush=True))


if __name__ == "__main__":
    sys.exit(main())
