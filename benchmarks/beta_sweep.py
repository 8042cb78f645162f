"""Notebook 08's beta sweep: the default VAE trained with KL weights beta, several seeds, scored once.

    python benchmarks/beta_sweep.py            # 7 betas x 3 seeds on MNIST: ~35 CPU-minutes on one thread
    python benchmarks/beta_sweep.py --dataset digits --betas 1 16 --seeds 0 --epochs 2 --out /tmp/b.json

Each run is the package's default recipe (vae_lite.pretrained: MLP encoder 784-256, decoder
50-512-784, 16 epochs of batches of 256 with dynamic binarization, a one-cycle learning rate
peaking at 8e-3, the KL weight warmed up over the first 2 epochs, the decoder started at the mean
image) on the beta-weighted objective (Higgins et al., 2017)

    loss = -E_q[log p(x|z)] + beta * KL(q(z|x) || p(z)),

so the beta = 1 runs are the default model of notebooks 05-08 retrained. Seed 0 gives the shipped
checkpoint's weights only on a CPU that rounds as the one that trained it did (the JSON records
whether it did: same_weights_as_shipped_checkpoint). Each model is scored on all test images,
binarized once with a fixed seed (vae_lite.binarized_test_set), one z per image:

    rate R = E_x KL(q(z|x) || p(z)),   distortion D = -E_x E_q[log p(x|z)],   -ELBO = R + D,

with, per latent dimension d, its KL and its activity Var_x(E[z_d|x]) (Burda et al.'s active
units), so that the notebook counts dimensions with thresholds it states. D0, the distortion of
the best model that ignores z (each pixel a Bernoulli with the mean training image's probability),
is stored too: it is where every factorised decoder ends when the code carries nothing.

Results are merged into results/beta_sweep.json, one entry per (beta, seed); the same command run
again skips the entries already there, so an interrupted sweep resumes. For seed 0 it also stores,
per beta, ten decoded prior samples (the same ten z for every beta) and the decoded encoder means
of the first ten test images, as 8-bit images, in results/beta_sweep_images.pt (about 100 kB).
"""

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import torch

import vae_lite
from vae_lite import latent, pretrained
from vae_lite._files import atomic_write

RESULTS = Path(__file__).resolve().parent.parent / "results"
BETAS = [0.25, 0.5, 1, 2, 4, 8, 16]
SEEDS = [0, 1, 2]
SHOWN = 10  # images stored per beta for the notebook's figures


def recipe_for(data, epochs=None):
    """pretrained.TRAINING as train_default_model adapts it to the data set (or with `epochs`)."""
    recipe = dict(pretrained.TRAINING)
    recipe["epochs"] = epochs or max(recipe["epochs"], 30_000 // len(data.train))
    recipe["batch_size"] = min(recipe["batch_size"], len(data.train))
    return recipe


def train(data, beta, seed, recipe):
    """The default recipe (pretrained.train_default_model) with KL weight beta."""
    torch.manual_seed(seed)  # the initial weights, as train_default_model draws them
    model = vae_lite.VAE(data.image_shape, **pretrained.SETTINGS).start_at_mean_image(data.train)
    vae_lite.fit(model, data, **recipe, beta=beta, seed=seed, progress=False, device="cpu")
    return model.eval()


@torch.inference_mode()
def score(model, test):
    """Rate, distortion and per-dimension statistics of `model` on the binarized test images."""
    torch.manual_seed(0)  # the one z per image of evaluate
    terms = vae_lite.evaluate(model, test)
    return {"rate": terms["kl"], "distortion": -terms["reconstruction"], "neg_elbo": -terms["elbo"],
            "kl_per_dimension": latent.kl_per_dimension(model, test).tolist(),
            "activity": latent.active_units(model, test)[1].tolist()}


def mean_image_distortion(data, test):
    """D0 = -E_x log p(x) under independent Bernoulli pixels at the mean training image: the
    least distortion of a factorised decoder that ignores z (it can output one image only)."""
    mean = data.train.float().mean(dim=0).clamp(1e-6, 1 - 1e-6)
    return -(test * mean.log() + (1 - test) * (1 - mean).log()).sum(dim=(1, 2, 3)).mean().item()


def to_bytes(images):
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).cpu()


def machine_info():
    import platform
    return {"python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
            "platform": platform.platform()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--betas", type=float, nargs="+", default=BETAS)
    parser.add_argument("--seeds", type=int, nargs="+", default=SEEDS)
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (smoke tests)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS / "beta_sweep.json"))
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parser.parse_args(argv)
    if any(beta <= 0 for beta in args.betas):
        parser.error(f"every beta must be positive, got {args.betas}")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    images_path = out.with_name(out.stem + "_images.pt")
    command = " ".join(["python benchmarks/beta_sweep.py", shlex.join(argv)]).strip()

    data = vae_lite.load_dataset(args.dataset, download=False)
    test = vae_lite.binarized_test_set(data)
    results = json.loads(out.read_text()) if out.exists() else {}
    if results and results.get("dataset") != data.name:
        sys.exit(f"{out} holds a sweep on {results.get('dataset')!r}, not {data.name!r}: pass another --out")
    results.update(dataset=data.name, test_images=len(test), mean_image_distortion=mean_image_distortion(data, test),
                   machine=machine_info())
    runs = results.setdefault("runs", {})
    recipe = recipe_for(data, args.epochs)
    shown = torch.load(images_path, weights_only=True) if images_path.exists() else {}
    shown["test_images"] = to_bytes(test[:SHOWN])
    for seed in args.seeds:
        for beta in args.betas:
            key = f"beta={beta:g} seed={seed}"
            done = key in runs and runs[key]["recipe"] == recipe
            if done and (seed != 0 or f"{beta:g}" in shown.get("samples", {})):
                print(f"{key}: done before, skipped", flush=True)
                continue
            load_before, wall, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
            model = train(data, beta, seed, recipe)
            run = {"beta": beta, "seed": seed, "recipe": recipe, "train_seconds": time.perf_counter() - wall,
                   "train_cpu_seconds": time.process_time() - cpu, "threads": args.threads,
                   "load_average_before_after": [load_before, os.getloadavg()[0]], "command": command,
                   "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), **score(model, test)}
            if beta == 1 and seed == 0 and data.name == "mnist" and args.epochs is None:
                shipped = vae_lite.load(pretrained.CHECKPOINT).state_dict()
                run["same_weights_as_shipped_checkpoint"] = all(
                    torch.allclose(value, shipped[name], atol=1e-5) for name, value in model.state_dict().items())
            runs[key] = run
            if seed == 0:
                with torch.inference_mode():
                    samples = model.sample(SHOWN, generator=torch.Generator().manual_seed(0))
                    reconstructions = model.decode(model.encode(test[:SHOWN])[0])
                shown.setdefault("samples", {})[f"{beta:g}"] = to_bytes(samples)
                shown.setdefault("reconstructions", {})[f"{beta:g}"] = to_bytes(reconstructions)
                atomic_write(images_path, lambda f: torch.save(shown, f))
            atomic_write(out, lambda f: f.write(json.dumps(results, indent=1).encode()))
            print(f"{key}: rate {run['rate']:.2f}, distortion {run['distortion']:.2f}, -ELBO {run['neg_elbo']:.2f} "
                  f"nats; {run['train_cpu_seconds']:.0f} CPU-s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
