"""Figure 2 of Kingma & Welling (2013), reproduced: the variational lower bound per data point
against the number of training samples evaluated, on MNIST (N_z = 2, 3, 5, 10, 20, 200) and Frey
Face (N_z = 2, 5, 10, 20), AEVB on every panel and wake-sleep on the four Frey Face panels.

    python benchmarks/paper_curves.py                          # every run (about 2 CPU-hours)
    python benchmarks/paper_curves.py frey-2 mnist-20          # some runs
    python benchmarks/paper_curves.py --max-samples 300000     # every run, only that far (a first pass)
    python benchmarks/paper_curves.py --quick --out /tmp/p.json  # seconds, for the smoke test

Each run is resumable: its state is saved next to --out (results/ by default) as
paper_curves.<run>.partial.pt (.seedN.partial.pt for --seed N) about every minute, and the same command continues from there (also with a larger --max-samples). The curves
are merged into results/paper_curves.json after every save, each with the command that made it,
so a stopped run leaves what it has.

The paper's setup, as far as we follow it (section 5 and appendices C and E of arXiv:1312.6114):
- encoder and decoder are MLPs with one tanh hidden layer of 500 units (MNIST) or 200 (Frey Face),
  vae_lite.PaperVAE; Bernoulli decoder for MNIST, Gaussian decoder with a learned variance
  per pixel and sigmoid means for Frey Face;
- every parameter starts from N(0, 0.01^2);
- Adagrad, with the global step size chosen from {0.01, 0.02, 0.1} by the training bound after the
  first iterations (here: one MNIST epoch, 20 Frey Face epochs; the chosen candidate's run goes on,
  the others are dropped and their samples not counted). Adagrad anneals each parameter's step as
  step / sqrt(sum of its squared gradients); the paper's appendix E speaks of "the Adagrad
  stepsizes (with accompanying annealing schedule)" without more detail, and we add no other
  schedule (the authors' anglepy code also waits 100 steps before its first update; we do not);
- minibatches of M = 100, L = 1 sample of z per data point for training (the paper's L = 1 is
  about training; how many z its curves' bounds used is not stated: ours use one);
- a weight decay for the prior p(theta) = N(0, I): the loss is the mean negative ELBO of the
  batch, so the prior's share per data point is -|theta|^2 / (2 N) and Adagrad's weight_decay is 1/N.
What differs: MNIST has 60,000 training images, binarized anew every epoch (dynamic binarization)
and scored on a test set binarized once (the paper does not say how it binarized); Frey Face is
vae_lite.load_dataset("frey-face"): 1,765 training faces and 200 test faces in 10 blocks of 20
consecutive video frames (the paper's split is not published); pixels are the file's values / 255
(the authors' code divides by 256); the "train" value is the running mean of the minibatch bounds
over the last epoch (as Kingma's code reported it), the "test" value is the bound with one z per
test image at the end of the epoch; we stop at a few million samples where the paper goes to 10^8.

The wake-sleep baseline (Hinton et al. 1995), with the same encoder, decoder, prior on the weights
and optimiser, runs on the four Frey Face panels (frey-N-wake-sleep); its curve is the same lower
bound, evaluated the same way. MNIST's wake-sleep comparison is Figure 3's (figure3.py).
"""

import argparse
import math
import os
import sys
import time
from pathlib import Path

import torch

import vae_lite
from vae_lite._files import atomic_write
from vae_lite.variants import PaperVAE, WakeSleepVAE

from quality import machine_info, merge_result  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

RESULTS = Path(__file__).resolve().parent.parent / "results"
STEP_SIZES = (0.01, 0.02, 0.1)  # the paper's Adagrad candidates
BATCH_SIZE = 100
SAMPLES = 3_000_000

RUNS = {
    **{f"mnist-{n}": dict(dataset="mnist", latent_dim=n, hidden=500, likelihood="bernoulli", pilot_epochs=1)
       for n in (2, 3, 5, 10, 20, 200)},
    **{f"frey-{n}": dict(dataset="frey-face", latent_dim=n, hidden=200, likelihood="gaussian", pilot_epochs=20)
       for n in (2, 5, 10, 20)},
    **{f"frey-{n}-wake-sleep": dict(dataset="frey-face", latent_dim=n, hidden=200, likelihood="gaussian",
                                    pilot_epochs=20, algorithm="wake-sleep") for n in (2, 5, 10, 20)},
}
ORDER = ["frey-2", "frey-5", "frey-10", "frey-20", "frey-2-wake-sleep", "frey-5-wake-sleep", "frey-10-wake-sleep",
         "frey-20-wake-sleep", "mnist-2", "mnist-3", "mnist-5", "mnist-10", "mnist-20", "mnist-200"]
# the decoders the notebook draws Figures 4 and 5 from (float16: a quarter of the size, same pictures)
SAVE_DECODERS = ("frey-2", "mnist-2", "mnist-5", "mnist-10", "mnist-20")

# Approximate values of the paper's AEVB curves (Figure 2 of arXiv:1312.6114v10): the lower bound
# per data point (train and test lie close) near the end of training, ~10^8 samples, read off the
# figure by eye: good to about 5 nats on MNIST and 150 nats on Frey Face, not digitised. MNIST's
# panels are N_z = 3, 5, 10, 20, 200 (there is no N_z = 2 panel for MNIST; mnist-2 is Figure 4's model).
PAPER_APPROXIMATE = {
    "note": "AEVB, near 10^8 samples, read off Figure 2 by eye; MNIST panels are N_z = 3, 5, 10, 20, 200",
    "source": "Kingma & Welling, arXiv:1312.6114v10, Figure 2 (section 5; page 7 in v11)",
    "samples": 1e8,
    "uncertainty": {"mnist": 5, "frey-face": 150},
    "mnist": {"3": -130, "5": -115, "10": -105, "20": -100, "200": -100},
    "frey-face": {"2": 1200, "5": 1400, "10": 1450, "20": 1450},
}


def load(dataset):
    """MNIST or Frey Face from vae_lite.load_dataset, never downloading (the repository ships both)."""
    return vae_lite.load_dataset(dataset, download=False)


def make_model(config, seed):
    torch.manual_seed(seed)
    cls = WakeSleepVAE if config.get("algorithm") == "wake-sleep" else PaperVAE
    return cls((1, 28, 28) if config["dataset"] != "frey-face" else (1, 28, 20), latent_dim=config["latent_dim"],
               hidden=config["hidden"], likelihood=config["likelihood"])


def make_optimizer(model, lr, n_train):
    # weight_decay = 1/N: the prior N(0, I) on every parameter, spread over the N training points
    return torch.optim.Adagrad(model.parameters(), lr=lr, weight_decay=1.0 / n_train)


def train_epoch(model, optimizer, data, epoch, seed):
    """One epoch with vae_lite.fit; a seed per epoch gives each epoch its own order, binarization and z."""
    return vae_lite.fit(model, data, epochs=1, batch_size=BATCH_SIZE, optimizer=optimizer, device="cpu",
                        seed=seed * 100_000 + epoch, progress=False).last


def recorded(epoch):
    """Epochs whose bounds are kept: the first 20, then 20 per decade (the curves are drawn on log axes)."""
    return epoch <= 20 or epoch in {round(10 ** (k / 20)) for k in range(100)}


def choose_step_size(config, data, seed, log):
    """Run each candidate step size for the pilot epochs; return the best (by the training bound),
    its model, optimiser and records, and every candidate's score."""
    best, scores = None, {}
    for lr in STEP_SIZES:
        model = make_model(config, seed)
        optimizer = make_optimizer(model, lr, len(data.train))
        records = []
        try:
            for epoch in range(1, config["pilot_epochs"] + 1):
                records.append({**train_epoch(model, optimizer, data, epoch, seed), "epoch": epoch})
            score = records[-1]["train_elbo"]
        except vae_lite.TrainingError as e:
            log(f"  step size {lr}: stopped ({e})")
            score = -math.inf
        scores[str(lr)] = score
        log(f"  step size {lr}: training bound {score:.2f} after {config['pilot_epochs']} epoch(s)")
        if best is None or score > best[0]:
            best = (score, lr, model, optimizer, records)
    _, lr, model, optimizer, records = best
    return lr, model, optimizer, records, scores


def curve(records, n_train):
    kept = [r for r in records if recorded(r["epoch"]) or r is records[-1]]
    return {
        "epochs": [r["epoch"] for r in kept],
        "samples": [r["epoch"] * n_train for r in kept],
        "train_elbo": [r["train_elbo"] for r in kept],
        "test_elbo": [r["test_elbo"] for r in kept],
        "test_kl": [r["test_kl"] for r in kept],
    }


def run(name, out, max_samples, seed=0, log=print, data=None, keep_decoder=True, command=""):
    config = dict(RUNS[name])
    data = data or load(config["dataset"])
    n_train = len(data.train)
    epochs = max(1, math.ceil(max_samples / n_train))
    state_path = Path(out).parent / f"paper_curves.{name}{f'.seed{seed}' if seed else ''}.partial.pt"  # one per seed
    log(f"{name}: {data}, {epochs} epochs ({epochs * n_train:.3g} samples), config {config}")
    start, cpu_start = time.perf_counter(), time.process_time()
    if state_path.exists():
        state = torch.load(state_path, weights_only=True)
        if state["config"] != config or state["seed"] != seed:
            raise SystemExit(f"{state_path} is another run's state: delete it, or give this run another --out folder")
        model = make_model(config, seed)
        model.load_state_dict(state["model"])
        optimizer = make_optimizer(model, state["lr"], n_train)
        optimizer.load_state_dict(state["optimizer"])
        lr, records, scores = state["lr"], state["records"], state["pilot"]
        spent, cpu_spent = state["seconds"], state["cpu_seconds"]
        log(f"  resuming from {state_path.name} after epoch {len(records)}")
    else:
        lr, model, optimizer, records, scores = choose_step_size(config, data, seed, log)
        spent = cpu_spent = 0.0
        log(f"  chose step size {lr}")

    def save():
        seconds = spent + time.perf_counter() - start
        cpu_seconds = cpu_spent + time.process_time() - cpu_start
        state = {"config": config, "seed": seed, "lr": lr, "pilot": scores, "model": model.state_dict(),
                 "optimizer": optimizer.state_dict(), "records": records, "seconds": seconds,
                 "cpu_seconds": cpu_seconds}
        atomic_write(state_path, lambda f: torch.save(state, f))
        result = {"config": config, "command": command, "seed": seed, "step_size": lr, "pilot_training_bound": scores,
                  "n_train": n_train, "n_test": len(data.test), "epochs_trained": len(records),
                  **({"frey_face_split": dict(vae_lite.data.FREY_FACE_SPLIT)} if config["dataset"] == "frey-face" else {}),
                  "complete_to_samples": len(records) * n_train, **curve(records, n_train),
                  "seconds": seconds, "cpu_seconds": cpu_seconds, "threads": torch.get_num_threads(),
                  "load_average": os.getloadavg()[0],
                  "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
        merge_result(out, name, result)

    last_save = time.perf_counter()
    for epoch in range(len(records) + 1, epochs + 1):
        records.append({**train_epoch(model, optimizer, data, epoch, seed), "epoch": epoch})
        if time.perf_counter() - last_save > 60 or epoch == epochs:
            save()
            last_save = time.perf_counter()
            log(f"  epoch {epoch}/{epochs}: train {records[-1]['train_elbo']:.2f}, "
                f"test {records[-1]['test_elbo']:.2f} nats per data point, "
                f"{cpu_spent + time.process_time() - cpu_start:.0f} CPU s")
    if len(records) >= epochs:
        save()
    if keep_decoder and name in SAVE_DECODERS:
        save_decoder(name, model, len(records) * n_train, Path(out).parent / "paper_decoders.pt")
    return model


def save_decoder(name, model, samples, path):
    """Keep the decoder (float16) for the notebook's Figures 4 and 5."""
    decoders = torch.load(path, weights_only=True) if path.exists() else {}
    decoders[name] = {"config": {k: v for k, v in model.config.items() if k in ("image_shape", "latent_dim", "hidden",
                                                                                  "likelihood")},
                      "samples": samples,
                      "decoder": {k: v.half() for k, v in model.decoder.state_dict().items()}}
    atomic_write(path, lambda f: torch.save(decoders, f))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", help=f"some of {', '.join(ORDER)} (default: all, in that order)")
    parser.add_argument("--out", default=str(RESULTS / "paper_curves.json"))
    parser.add_argument("--max-samples", type=float, default=SAMPLES, help="training samples per run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="frey-2 for 2 pilot and 4 epochs on 300 faces")
    args = parser.parse_args(argv)
    unknown = set(args.runs) - set(RUNS)
    if unknown:
        parser.error(f"unknown run(s) {sorted(unknown)}; choose from {', '.join(ORDER)}")
    torch.set_num_threads(args.threads)
    log = lambda *a: print(*a, flush=True)  # noqa: E731
    command = "python benchmarks/paper_curves.py " + " ".join(argv if argv is not None else sys.argv[1:])
    about = {"command": command, "paper_approximate": PAPER_APPROXIMATE, "step_sizes": STEP_SIZES,
             "batch_size": BATCH_SIZE, "machine": machine_info()}
    merge_result(args.out, "about", about)
    if args.quick:
        RUNS["frey-2"]["pilot_epochs"] = 2
        data = load("frey-face")
        data = data.subset(train=300)
        run("frey-2", args.out, 6 * 300, args.seed, log, data=data, keep_decoder=False, command=command)
    else:
        for name in args.runs or ORDER:
            run(name, args.out, int(args.max_samples), args.seed, log, command=command)


if __name__ == "__main__":
    sys.exit(main())
