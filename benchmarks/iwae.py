"""The IWAE against the VAE (Burda et al., 2015): same networks, data, epochs and initial weights.

    python benchmarks/iwae.py mnist                          # the committed run (seed 0): results/iwae.json
    python benchmarks/iwae.py mnist --seed 1 --seed-only     # seeds 1, 2: results/iwae-seed1.json, ...
    python benchmarks/iwae.py digits-quick --out /tmp/iwae.json   # seconds; the smoke test

Only the objective differs: the VAE maximises the ELBO (k = 1), the IWAE the importance-weighted
bound L_5 (vae_lite.IWAE, k = 5 samples per image). Both start from the same initial
weights, and in each epoch both see the same images in the same order, binarized the same way
(dynamic binarization, one seed per epoch), with the same Adam and learning-rate schedule. The
epochs alternate (VAE, IWAE, VAE, ...) so that a change in the machine's load hits both alike;
each model's training CPU seconds (time.process_time, one thread) are recorded apart. Equal
epochs are not equal CPU time: an IWAE step decodes k samples per image.

Test numbers, all on every image of the test set (MNIST's 10,000), binarized once with a fixed
seed (vae_lite.binarized_test_set): after each epoch, -ELBO and -L_k from the same k = 5 draws
(the curves); at the end, the negative ELBO (10 samples per image), -L_k ("test_neg_lk", k = 5),
active units (Burda et al.: Cov_x E_q[z_d|x] > 0.01), and the IW NLL, -log p(x) estimated with
importance samples from each model's own encoder (the same images and random seed for both), with
its standard error over images and the standard error of the paired difference: at k = eval_k
(5000, Burda et al.'s k) and at k = seed_k (500, cheaper). --seed-only skips the eval_k estimate
(the costly part: about 17 CPU-minutes per model): the other seeds' runs, which measure the spread
over seeds, are compared at seed_k.

Resumable: the state of both models (weights, Adam, records, seconds) is written to
iwae-<config>-seed<seed>.partial.pt beside the output after every epoch pair; running the same
command again continues from there (also after training, before the test numbers are written).
The file is deleted once the result JSON is written.
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
from vae_lite._files import atomic_write
from vae_lite.variants import IWAE
from vae_lite.objectives import iw_bound, log_weights
from vae_lite.latent import active_units

RESULTS = Path(__file__).resolve().parent.parent / "results"

CONFIGS = {
    # Burda et al.'s one-stochastic-layer networks (two hidden layers of 200, 50 latent dimensions;
    # ReLU here, tanh there) for 25 epochs: about 10 CPU minutes of training for both models
    "mnist": dict(dataset="mnist", hidden=[200, 200], latent_dim=50, k=5, epochs=25, batch_size=100,
                  lr=1e-3, eval_k=5000, seed_k=500, curve_images=None),
    # for tests: seconds on scikit-learn's 8x8 digits
    "digits-quick": dict(dataset="digits", hidden=[64], latent_dim=8, k=5, epochs=2, batch_size=64,
                         lr=1e-3, eval_k=50, seed_k=10, curve_images=100),
}
MODELS = ("vae", "iwae")


def learning_rate(config, epoch):
    """Adam's learning rate in epoch 1..epochs: lr decayed by a cosine towards 0."""
    return config["lr"] * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / config["epochs"]))


def build(config, seed):
    """The VAE and the IWAE, with the same initial weights (same seed, same layers in the same order)."""
    models = {}
    for name in MODELS:
        torch.manual_seed(seed)
        k = dict(k=config["k"]) if name == "iwae" else {}
        cls = IWAE if name == "iwae" else vae_lite.VAE
        models[name] = cls(config["image_shape"], latent_dim=config["latent_dim"], hidden=config["hidden"], **k)
    return models


@torch.inference_mode()
def bounds(model, x, k, generator, batch_size=500):
    """Mean ELBO (from k samples) and mean L_k over x, in nats per image."""
    elbos, iws = [], []
    for start in range(0, len(x), batch_size):
        log_w = log_weights(model, x[start:start + batch_size], k, generator)  # (k, B)
        elbos.append(log_w.mean(dim=0))
        iws.append(iw_bound(log_w))
    return torch.cat(elbos).mean().item(), torch.cat(iws).mean().item()


def train(config, data, test, seed, state_path, log, max_minutes=None, stop_after=None):
    """Train both models epoch by epoch, alternating; returns (models, state) with per-epoch records."""
    models = build(config, seed)
    optimizers = {name: torch.optim.Adam(m.parameters(), lr=config["lr"]) for name, m in models.items()}
    state = {"config": config, "seed": seed, "epochs_done": 0, "records": {n: [] for n in MODELS},
             "train_cpu_seconds": {n: 0.0 for n in MODELS}, "train_seconds": {n: 0.0 for n in MODELS}}
    if state_path.exists():
        saved = torch.load(state_path, weights_only=True)
        if saved["config"] == json.loads(json.dumps(config)) and saved["seed"] == seed:
            for name in MODELS:
                models[name].load_state_dict(saved["models"][name])
                optimizers[name].load_state_dict(saved["optimizers"][name])
            state = {k: saved[k] for k in state}
            log(f"resuming from {state_path} after epoch {state['epochs_done']}")
    train_only = vae_lite.ImageData(data.train, None, name=data.name)  # fit's own test pass is not timed
    curve_x = test[:config["curve_images"]]  # None: every test image, as in the final numbers
    start, first = time.perf_counter(), state["epochs_done"] + 1
    for epoch in range(first, config["epochs"] + 1):
        if (max_minutes is not None and time.perf_counter() - start > 60 * max_minutes) or \
                (stop_after is not None and epoch - first >= stop_after):
            log(f"stopping at epoch {epoch - 1} of {config['epochs']}; run the same command again to resume")
            break
        for name in MODELS:
            for group in optimizers[name].param_groups:
                group["lr"] = learning_rate(config, epoch)
            cpu, wall = time.process_time(), time.perf_counter()
            # the same seed for both models: the same order and binarization of the same images
            history = vae_lite.fit(models[name], train_only, epochs=1, batch_size=config["batch_size"],
                                   device="cpu", seed=seed * 100_000 + epoch, progress=False,
                                   optimizer=optimizers[name])
            state["train_cpu_seconds"][name] += time.process_time() - cpu
            state["train_seconds"][name] += time.perf_counter() - wall
            elbo, l_k = bounds(models[name], curve_x, config["k"], torch.Generator().manual_seed(seed))
            state["records"][name].append({
                "epoch": epoch, "lr": learning_rate(config, epoch), "train_loss": history.last["train_loss"],
                "test_neg_elbo": -elbo, "test_neg_lk": -l_k,
                "train_cpu_seconds": state["train_cpu_seconds"][name],
            })
        state["epochs_done"] = epoch
        payload = {**state, "models": {n: m.state_dict() for n, m in models.items()},
                   "optimizers": {n: o.state_dict() for n, o in optimizers.items()}}
        atomic_write(state_path, lambda f: torch.save(payload, f))
        if epoch == 1 or epoch % 10 == 0 or epoch == config["epochs"]:
            log(f"epoch {epoch}: " + ", ".join(
                f"{n} -ELBO {state['records'][n][-1]['test_neg_elbo']:.2f} "
                f"-L_k {state['records'][n][-1]['test_neg_lk']:.2f} "
                f"({state['train_cpu_seconds'][n]:.0f} CPU s)" for n in MODELS))
    return models, state


def iw_estimate(model, test, k, seed):
    """-log p(x) at k importance samples on every test image: (mean, its standard error, per-image log p(x))."""
    log_px = vae_lite.iw_log_likelihood(model, test, k=k, generator=torch.Generator().manual_seed(seed))
    return -log_px.mean().item(), (log_px.std() / math.sqrt(len(log_px))).item(), log_px


def evaluate(model, test, config, seed, seed_only=False):
    """The test numbers of one trained model (see the module docstring), and its per-image log p(x)
    at each k estimated: {k: tensor}."""
    cpu = time.process_time()
    generator = torch.Generator().manual_seed(seed)
    elbo, _ = bounds(model, test, 10, generator)
    _, l_k = bounds(model, test, config["k"], generator)
    count, activity = active_units(model, test)
    result, log_px = {"test_neg_elbo": -elbo, "test_neg_lk": -l_k}, {}
    for key, k in [("iw_nll_seed_k", config["seed_k"]), ("iw_nll", None if seed_only else config["eval_k"])]:
        if k is not None:
            result[key], result[key + "_std_error"], log_px[k] = iw_estimate(model, test, k, seed)
    result.update(active_units=count, activity=[round(a, 5) for a in activity.tolist()],
                  eval_cpu_seconds=time.process_time() - cpu)
    return result, log_px


def paired(log_px):
    """The IWAE's log p(x) minus the VAE's, image by image: (mean, its standard error)."""
    difference = log_px["iwae"] - log_px["vae"]
    return difference.mean().item(), (difference.std() / math.sqrt(len(difference))).item()


def run(name, out, threads=1, seed=0, max_minutes=None, stop_after=None, seed_only=False, log=print):
    config = dict(CONFIGS[name])
    torch.set_num_threads(threads)
    data = vae_lite.load_dataset(config["dataset"], download=False)
    config["image_shape"] = list(data.image_shape)
    test = vae_lite.binarized_test_set(data)
    log(f"iwae {name}: {data}, config {config}, seed {seed}, {threads} thread(s)")
    load_before = os.getloadavg()[0]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    state_path = Path(out).parent / f"iwae-{name}-seed{seed}.partial.pt"
    models, state = train(config, data, test, seed, state_path, log, max_minutes, stop_after)
    if state["epochs_done"] < config["epochs"]:
        return None
    results, log_px = {}, {}
    for model_name, model in models.items():
        results[model_name], log_px[model_name] = evaluate(model.eval(), test, config, seed, seed_only)
        results[model_name].update(train_cpu_seconds=state["train_cpu_seconds"][model_name],
                                   train_seconds=state["train_seconds"][model_name],
                                   epochs=state["records"][model_name])
        log(f"{model_name}: " + ", ".join(f"{k} {v:.2f}" for k, v in results[model_name].items()
                                         if isinstance(v, float)) + f", active units {results[model_name]['active_units']}")
    differences = {}  # paired: the same images, IWAE minus VAE in log p(x), at each k estimated
    for k in log_px["vae"]:
        mean, error = paired({m: log_px[m][k] for m in MODELS})
        differences[str(k)] = {"iw_nll_vae_minus_iwae": mean, "std_error": error}
    result = {
        "config": config,
        "command": f"python benchmarks/iwae.py {name} --threads {threads} --seed {seed}" + (" --seed-only" if seed_only else ""),
        "test_images": len(test),
        "iw_images": len(test),  # every IW NLL here is on all the test images
        "models": results,
        "iw_nll_vae_minus_iwae_by_k": differences,
        "cpu_ratio_iwae_over_vae": state["train_cpu_seconds"]["iwae"] / state["train_cpu_seconds"]["vae"],
        "threads": threads,
        "seed": seed,
        "load_average_before_after": [load_before, os.getloadavg()[0]],
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
                    "platform": platform.platform()},
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    if not seed_only:  # the headline pair, at Burda et al.'s k
        result["iw_nll_vae_minus_iwae"] = differences[str(config["eval_k"])]["iw_nll_vae_minus_iwae"]
        result["iw_nll_vae_minus_iwae_std_error"] = differences[str(config["eval_k"])]["std_error"]
    out = Path(out)
    atomic_write(out, lambda f: f.write(json.dumps(result, indent=1).encode()))
    state_path.unlink(missing_ok=True)
    log(f"wrote {out}: " + "; ".join(f"IW NLL (k={k}, all {len(test)} test images) VAE {log_px['vae'][int(k)].mean().neg():.2f}, "
                                     f"IWAE {log_px['iwae'][int(k)].mean().neg():.2f}" for k in differences)
        + f"; IWAE/VAE training CPU {result['cpu_ratio_iwae_over_vae']:.2f}")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", choices=sorted(CONFIGS))
    parser.add_argument("--out", default=None,
                        help="default: results/iwae.json for mnist seed 0, results/iwae-seed<seed>.json for --seed-only")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop training after this many minutes; the same command resumes it")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="train at most this many epochs in this run; the same command resumes it")
    parser.add_argument("--seed-only", action="store_true",
                        help="skip the IW NLL at eval_k (a run for the spread over seeds, compared at seed_k)")
    args = parser.parse_args(argv)
    if args.out is None and args.config == "mnist" and (args.seed_only == (args.seed == 0)):
        parser.error("the committed runs are seed 0 in full and the other seeds with --seed-only; "
                     "give --out for another combination")
    default = "iwae" if args.config == "mnist" else f"iwae-{args.config}"
    out = args.out or str(RESULTS / (f"{default}-seed{args.seed}.json" if args.seed_only else f"{default}.json"))
    run(args.config, out, args.threads, args.seed, args.max_minutes, args.stop_after, args.seed_only,
        log=lambda *a: print(*a, flush=True))


if __name__ == "__main__":
    sys.exit(main())
