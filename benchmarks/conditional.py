"""Notebook 11: the conditional VAE against the VAE, like for like.

    python benchmarks/conditional.py mnist          # the committed run: about 30 CPU minutes at 1 thread (29 for the stored run)
    python benchmarks/conditional.py digits-quick --out /tmp/conditional.json   # seconds; the smoke test

The conditional VAE's ELBO bounds log p(x|y), the VAE's bounds log p(x): they bound different
numbers. log p(x|y) - log p(x) = log p(y|x) - log p(y) <= -log p(y) (about log 10 = 2.30 nats for
ten balanced classes), so the label can explain at most that much of a gap between them. What is
compared here, on MNIST's test set binarized once with a fixed seed (vae_lite.binarized_test_set):

- ELBO(x|y) + log p(y), a bound on log p(x, y) <= log p(x) of the conditional model used as a model
  of images, p(x) = sum_y p(y) p(x|y) (Kingma et al. 2014's labelled objective), against the VAE's
  ELBO(x); p(y) is the class frequency of the training labels. ELBOs averaged over the config's
  `elbo_samples` samples of z per image (4 on MNIST), on all test images, with their two terms
  (reconstruction, KL).
- Importance-weighted estimates of log p(x|y) and log p(x) (Burda et al., 2015) on the first
  `iw_images` test images, from k = 1000 samples of each model's own encoder, so that each bound's
  looseness (log p - ELBO) is separated from the models' fit (log p against log p); L_k is also
  read at k = 1, 10, 100 from the same samples, to show how far from converged k = 1000 is. For
  the main seed, also log p(x) of the conditional model itself, logsumexp_c [log p(c) + log p(x|c)]
  over all ten labels, with k_per_label = 100 samples for every label (the true one's first 100),
  against log p(x, y) from the same 100: their difference is the mean log p(y|x).

Models: notebook 11's convolutional networks (vae_lite.pretrained.CONDITIONAL_SETTINGS), trained
with the shipped models' recipe (fit: Adam at 1e-3, batches of 128, dynamic binarization). The
main seed (0) is the shipped checkpoints (float16 weights); seeds 1, 2 are trained here with the
same recipe (initial weights and data order from the seed). Each trained model is saved to
results/conditional-<config>.partial/ as it finishes, so the same command resumes an interrupted
run; the folder is deleted once the JSON is written.
"""

import argparse
import json
import math
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

import vae_lite
from vae_lite import pretrained
from vae_lite._files import atomic_write
from vae_lite import ConditionalVAE
from vae_lite.objectives import log_weights

RESULTS = Path(__file__).resolve().parent.parent / "results"

CONFIGS = {
    "mnist": dict(dataset="mnist", epochs=10, lr=1e-3, seeds=[0, 1, 2], shipped_seed=0, elbo_samples=4,
                  iw_images=1000, k=1000, k_reads=[1, 10, 100, 1000], k_per_label=100),
    # for tests: seconds on scikit-learn's 8x8 digits (models trained here, none loaded)
    "digits-quick": dict(dataset="digits", epochs=2, lr=3e-3, seeds=[0, 1], shipped_seed=None, elbo_samples=2,
                         iw_images=20, k=40, k_reads=[1, 10, 40], k_per_label=10),
}
MODELS = ("cvae", "vae")
DECODES_PER_CHUNK = 2000  # a conv decoder's feature maps for 2,000 decodes take about 80 MB


def make(name, data, seed):
    """Notebook 11's conditional VAE or VAE with the initial weights of `seed` (pretrained's recipe)."""
    torch.manual_seed(seed)
    if name == "cvae":
        return ConditionalVAE(data.image_shape, int(data.train_labels.max()) + 1, **pretrained.CONDITIONAL_SETTINGS)
    return vae_lite.VAE(data.image_shape, **pretrained.CONDITIONAL_SETTINGS)


def trained(name, data, seed, epochs, config, folder, log):
    """The model `name` for (seed, epochs): the shipped one, one saved by an earlier run, or trained now."""
    if seed == config["shipped_seed"] and epochs == config["epochs"]:
        path = pretrained.conditional_checkpoint(data.name, "cvae" if name == "cvae" else "conv_vae")
        model = vae_lite.load(path)
        return model, {"source": f"shipped: {path.name}", **{k: model.checkpoint_extra[k] for k in ("epochs", "lr")},
                       "train_cpu_seconds": model.checkpoint_extra["cpu_seconds"]}
    path = folder / f"{name}-seed{seed}-epochs{epochs}.pt"
    model = make(name, data, seed)
    if path.exists():
        saved = torch.load(path, weights_only=True)
        model.load_state_dict(saved["weights"])
        return model.eval(), saved["record"]
    cpu = time.process_time()
    history = vae_lite.fit(model, data, epochs=epochs, lr=config["lr"], seed=seed, progress=False)
    record = {"source": "trained here", "epochs": epochs, "lr": config["lr"],
              "train_cpu_seconds": time.process_time() - cpu,
              "test_elbo_per_epoch": [r["test_elbo"] for r in history.records]}
    atomic_write(path, lambda f: torch.save({"weights": model.state_dict(), "record": record}, f))
    log(f"  trained {name} seed {seed}, {epochs} epochs: test ELBO {record['test_elbo_per_epoch'][-1]:.2f} "
        f"({record['train_cpu_seconds']:.0f} CPU s)")
    return model.eval(), record


@torch.inference_mode()
def elbo_terms(model, x, y, samples, seed, batch_size=200):
    """Per image: the ELBO from `samples` draws of z, its reconstruction term and its KL."""
    generator = torch.Generator().manual_seed(seed)
    parts = [vae_lite.elbo(model, x[s:s + batch_size], samples=samples, generator=generator,
                           y=None if y is None else y[s:s + batch_size]) for s in range(0, len(x), batch_size)]
    return {key: torch.cat([getattr(p, key) for p in parts]) for key in ("elbo", "reconstruction", "kl")}


@torch.inference_mode()
def log_weight_matrix(model, x, k, y, seed):
    """(k, N) log importance weights log p(x, z_i [| y]) - log q(z_i | x [, y]), z_i from the encoder."""
    generator = torch.Generator().manual_seed(seed)
    out = torch.empty(k, len(x))
    per_chunk = max(1, DECODES_PER_CHUNK // k)  # images per chunk when all k samples fit, else 1
    for start in range(0, len(x), per_chunk):
        xb = x[start:start + per_chunk]
        yb = None if y is None else y[start:start + per_chunk]
        step = max(1, DECODES_PER_CHUNK // len(xb))
        for done in range(0, k, step):
            n = min(step, k - done)
            out[done:done + n, start:start + len(xb)] = log_weights(model, xb, n, generator, yb)
    return out


def iw(log_w, k):
    """L_k from the first k of the log weights, per image (k = 1: the one-sample ELBO; the mean of all
    log weights is the ELBO estimated from all of them)."""
    return torch.logsumexp(log_w[:k], dim=0) - math.log(k)


def summary(values):
    """Mean and standard error over images."""
    return {"mean": values.mean().item(), "std_error": (values.std() / math.sqrt(len(values))).item()}


def evaluate(models, data, test, log_prior, config, seed, main):
    """The numbers of one (cvae, vae) pair: ELBO terms on all test images; IW estimates on the first iw_images."""
    labels = data.test_labels
    result, started = {}, time.process_time()
    terms = {name: elbo_terms(model, test, labels if name == "cvae" else None, config["elbo_samples"], seed)
             for name, model in models.items()}
    joint = terms["cvae"]["elbo"] + log_prior[labels]  # a bound on log p(x, y) <= log p(x)
    result["all_test_images"] = {
        "images": len(test),
        **{f"{name}_{key}": summary(values) for name in MODELS for key, values in terms[name].items()},
        "mean_log_prior_of_label": log_prior[labels].mean().item(),
        "cvae_joint_bound": summary(joint),  # ELBO(x|y) + log p(y)
        "cvae_elbo_minus_vae_elbo": summary(terms["cvae"]["elbo"] - terms["vae"]["elbo"]),
        "cvae_joint_bound_minus_vae_elbo": summary(joint - terms["vae"]["elbo"]),
    }
    n, k = config["iw_images"], config["k"]
    x, y = test[:n], labels[:n]
    log_w = {name: log_weight_matrix(model, x, k, y if name == "cvae" else None, seed) for name, model in models.items()}
    iw_part = {"images": n, "k": k}
    for name in MODELS:
        iw_part[f"{name}_elbo"] = summary(log_w[name].mean(dim=0))
        for read in config["k_reads"]:
            iw_part[f"{name}_L_{read}"] = summary(iw(log_w[name], read))
    log_p = {name: iw(log_w[name], k) for name in MODELS}
    elbo = {name: log_w[name].mean(dim=0) for name in MODELS}
    iw_part.update({
        "cvae_gap": summary(log_p["cvae"] - elbo["cvae"]),  # log p(x|y) - ELBO(x|y): the bound's looseness
        "vae_gap": summary(log_p["vae"] - elbo["vae"]),
        "cvae_log_joint": summary(log_p["cvae"] + log_prior[y]),  # log p(x, y)
        "cvae_log_joint_minus_vae_log_px": summary(log_p["cvae"] + log_prior[y] - log_p["vae"]),
        "cvae_log_px_given_y_minus_vae_log_px": summary(log_p["cvae"] - log_p["vae"]),
    })
    if main:  # the conditional model's own log p(x): every label, k_per_label samples each
        k_label = config["k_per_label"]
        per_label = torch.empty(n, len(log_prior))  # log p(x|c)
        for c in range(len(log_prior)):
            other = y != c  # the true label's column is filled below, from its first k_label samples
            per_label[other, c] = iw(log_weight_matrix(models["cvae"], x[other], k_label,
                                                       torch.full((int(other.sum()),), c), seed + 1 + c), k_label)
        per_label[torch.arange(n), y] = iw(log_w["cvae"], k_label)
        log_joint = per_label[torch.arange(n), y] + log_prior[y]
        log_px = torch.logsumexp(per_label + log_prior, dim=1)
        iw_part.update({
            "k_per_label": k_label,
            "cvae_log_px": summary(log_px),
            "cvae_log_joint_same_k": summary(log_joint),
            "cvae_log_posterior_of_label": summary(log_joint - log_px),  # log p(y|x) <= 0
            "cvae_log_px_minus_vae_log_px_same_k": summary(log_px - iw(log_w["vae"], k_label)),
            "classifier_accuracy_by_bayes": ((per_label + log_prior).argmax(dim=1) == y).float().mean().item(),
        })
    result["first_test_images"] = iw_part
    result["eval_cpu_seconds"] = time.process_time() - started
    return result


def run(name, out, threads=1, log=print):
    config = dict(CONFIGS[name])
    torch.set_num_threads(threads)
    data = vae_lite.load_dataset(config["dataset"], download=False)
    test = vae_lite.binarized_test_set(data)
    counts = torch.bincount(data.train_labels)
    log_prior = (counts.float() / counts.sum()).log()
    folder = Path(out).parent / f"conditional-{name}.partial"
    folder.mkdir(parents=True, exist_ok=True)
    log(f"conditional {name}: {data}, config {config}, {threads} thread(s)")
    load_before, started = os.getloadavg()[0], time.process_time()
    runs = [(seed, config["epochs"]) for seed in config["seeds"]]
    results = []
    for seed, epochs in runs:
        main = (seed, epochs) == (config["seeds"][0], config["epochs"])
        partial = folder / f"result-seed{seed}-epochs{epochs}.json"
        if partial.exists():
            results.append(json.loads(partial.read_text()))
            continue
        pair, records = {}, {}
        for model_name in MODELS:
            pair[model_name], records[model_name] = trained(model_name, data, seed, epochs, config, folder, log)
        result = {"seed": seed, "epochs": epochs, "main": main, "training": records,
                  **evaluate(pair, data, test, log_prior, config, seed, main)}
        atomic_write(partial, lambda f: f.write(json.dumps(result, indent=1).encode()))
        part, first = result["all_test_images"], result["first_test_images"]
        log(f"seed {seed}, {epochs} epochs: ELBO cvae {part['cvae_elbo']['mean']:.2f} vae {part['vae_elbo']['mean']:.2f}; "
            f"joint bound - vae ELBO {part['cvae_joint_bound_minus_vae_elbo']['mean']:.2f}; first {first['images']} images, "
            f"k={first['k']}: gaps cvae {first['cvae_gap']['mean']:.2f} vae {first['vae_gap']['mean']:.2f}, "
            f"log p(x,y) - log p(x) {first['cvae_log_joint_minus_vae_log_px']['mean']:.2f} "
            f"({result['eval_cpu_seconds']:.0f} CPU s)")
        results.append(result)
    report = {
        "config": config,
        "command": f"python benchmarks/conditional.py {name} --threads {threads}",
        "dataset": data.name,
        "log_prior": log_prior.tolist(),
        "runs": results,
        "threads": threads,
        "cpu_seconds": time.process_time() - started,
        "load_average_before_after": [load_before, os.getloadavg()[0]],
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
                    "platform": platform.platform()},
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    atomic_write(Path(out), lambda f: f.write(json.dumps(report, indent=1).encode()))
    shutil.rmtree(folder)
    log(f"wrote {out}")
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", choices=sorted(CONFIGS))
    parser.add_argument("--out", default=None, help="default: results/conditional.json for mnist")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    out = args.out or str(RESULTS / ("conditional.json" if args.config == "mnist" else f"conditional-{args.config}.json"))
    run(args.config, out, args.threads, log=lambda *a: print(*a, flush=True))


if __name__ == "__main__":
    sys.exit(main())
