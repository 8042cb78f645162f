"""Figure 3 of Kingma & Welling (2013), reproduced without MCEM: the marginal likelihood log p(x)
of models trained by AEVB and by wake-sleep on MNIST, N_z = 3, 100 hidden units, for a small and
a large training set (N_train = 1,000 and 50,000), against the number of training samples evaluated.

    python benchmarks/figure3.py                      # the four runs (about 1 CPU-hour)
    python benchmarks/figure3.py aevb-1000 ws-1000    # some of them
    python benchmarks/figure3.py --quick --out /tmp/f3.json   # seconds, for the smoke test

The paper (section 5, "Marginal likelihood", and appendices D and E of arXiv:1312.6114): encoder
and decoder with 100 hidden units and 3 latent variables ("for higher dimensional latent space
the estimates became unreliable"), MNIST, the recipe of Figure 2 (paper_curves.py: Adagrad with
a step size chosen from {0.01, 0.02, 0.1} on the training bound, batches of 100, L = 1, weights
from N(0, 0.01^2), the prior N(0, I) on the weights); log p(x) estimated "with the first 1000
datapoints from the train and test sets". Its estimator (appendix D) draws 50 samples from the
posterior p(z|x) by Hybrid Monte Carlo (4 leapfrog steps), fits a density q(z) to them, and
inverts a harmonic-mean-type average over fresh posterior samples:
1/p(x) ~= 1/L sum_l q(z_l) / (p(z_l) p(x|z_l)). The log of that estimate errs upwards in
expectation (Jensen), and it rests on the chains having mixed.

Ours is importance sampling (vae_lite.objectives.mixture_log_weights), which for N_z = 3 is
accurate and needs no Markov chain:

    log p(x) ~= log 1/k sum_i p(x|z_i) p(z_i) / r(z_i),   r = (q(z|x) + p(z)) / 2,

k/2 draws from the encoder's q(z|x) and k/2 from the prior: a defensive mixture (Hesterberg 1995),
so no weight exceeds 2 p(x|z_i) however poor q is (wake-sleep's q is not trained on the ELBO).
Its log errs downwards in expectation; the script measures by how much at the end of each run
(k = 1,000 against k = 20,000 on 200 images).

What differs from the paper besides the estimator: MNIST is binarized once (a fixed seed), so that
N_train = 1,000 means 1,000 binary images (the paper does not say how it binarized); the training
sets are the first N_train of the 60,000 training images, the test set the first 1,000 test images
binarized as vae_lite.data.binarized_test_set; we stop at a few million samples; and Monte Carlo
EM is left out (it is not an online algorithm, and it needs an HMC chain per data point before
every few weight updates, a sampler we would have to write and tune for this figure alone).
Each run saves its state after every checkpoint to results/figure3.<run>.partial.pt; the same
command resumes it (also with a larger --max-samples).
"""

import argparse
import math
import os
import sys
import time
from pathlib import Path

import torch

import vae_lite
from vae_lite import objectives
from vae_lite._files import atomic_write
from vae_lite import PaperVAE
from vae_lite.train import train_step

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paper_curves import STEP_SIZES, BATCH_SIZE, WakeSleepVAE, make_optimizer  # noqa: E402
from quality import machine_info, merge_result  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent / "results"
RUNS = {f"{algorithm}-{n}": dict(algorithm="aevb" if algorithm == "aevb" else "wake-sleep", n_train=n)
        for n in (1000, 50_000) for algorithm in ("aevb", "ws")}
LATENT, HIDDEN = 3, 100
SAMPLES = 3_000_000
PILOT_SAMPLES = 60_000  # "the first few iterations": 600 steps of 100, for each candidate step size
SCORED = 1000  # log p(x) on the first 1,000 training and test images, as the paper
K = 1000  # importance samples per image on the curve: half from q(z|x), half from p(z)
K_CHECK = 20_000  # at the end: how far k = K is from a much larger k, on the first CHECKED test images
CHECKED = 200
TRAINING_BINARIZATION_SEED = 1


def checkpoints(max_samples):
    """Sample counts where log p(x) is estimated: 3 per decade from 10^4 (whole minibatches)."""
    counts = [round(10 ** (4 + j / 3) / BATCH_SIZE) * BATCH_SIZE for j in range(30)]
    return [n for n in counts if n < max_samples] + [int(max_samples)]


def load(n_train):
    """MNIST binarized once: the first n_train training images and the first SCORED test images."""
    data = vae_lite.load_dataset("mnist", download=False)
    train = vae_lite.binarize(data.train, torch.Generator().manual_seed(TRAINING_BINARIZATION_SEED))[:n_train]
    return train, vae_lite.data.binarized_test_set(data)[:SCORED]


def make_model(algorithm, seed):
    torch.manual_seed(seed)
    cls = WakeSleepVAE if algorithm == "wake-sleep" else PaperVAE
    return cls((1, 28, 28), latent_dim=LATENT, hidden=HIDDEN, likelihood="bernoulli")


@torch.inference_mode()
def log_marginal(model, x, k, generator, batch=20):
    """log p(x) of each image by importance sampling from the defensive mixture (q(z|x) + p(z)) / 2,
    and the effective sample size of its weights."""
    estimates, ess = [], []
    for xb in x.split(batch):
        mu, logvar = model.encode(xb)
        prior = (torch.zeros_like(mu), torch.zeros_like(logvar))
        log_w = objectives.mixture_log_weights(model, xb, [(mu, logvar), prior], k, generator)
        estimates.append(objectives.iw_bound(log_w))
        ess.append(objectives.effective_sample_size(log_w))
    return torch.cat(estimates), torch.cat(ess)


@torch.inference_mode()
def elbo(model, x, generator):
    """The ELBO of each image with 10 draws of z (a low-noise estimate of the bound itself)."""
    return torch.cat([objectives.elbo(model, xb, samples=10, generator=generator).elbo for xb in x.split(200)])


class Stream:
    """The random stream of one run's training: a torch generator, the epoch's order and the position
    in it, saved and restored as one so that a resumed run repeats an uninterrupted one."""

    def __init__(self, seed):
        self.torch = torch.Generator().manual_seed(seed)
        self.order, self.position = [], 0

    def state(self):
        return {"torch": self.torch.get_state(), "order": self.order, "position": self.position}

    def load(self, state):
        self.torch.set_state(state["torch"])
        self.order, self.position = state["order"], state["position"]

    def next_batch(self, n):
        if self.position >= len(self.order):  # a new epoch: a new permutation
            self.order, self.position = torch.randperm(n, generator=self.torch).tolist(), 0
        batch = self.order[self.position:self.position + BATCH_SIZE]
        self.position += len(batch)
        return batch


def train_samples(model, optimizer, train, samples, stream):
    """Train on `samples` more training samples, minibatches of 100 from a new permutation each epoch.
    Returns the mean training bound over them (one z per image, as the training step drew it)."""
    total, seen = 0.0, 0
    while seen < samples:
        batch = stream.next_batch(len(train))
        total += train_step(model, train[batch], optimizer)["elbo"] * len(batch)
        seen += len(batch)
    return total / seen


def choose_step_size(config, train, seed, log):
    """Each candidate step size for PILOT_SAMPLES; the best by the training bound goes on."""
    best = None
    scores = {}
    for lr in STEP_SIZES:
        model = make_model(config["algorithm"], seed)
        optimizer = make_optimizer(model, lr, len(train))
        stream = Stream(seed)
        try:
            scores[str(lr)] = train_samples(model, optimizer, train, PILOT_SAMPLES, stream)
        except vae_lite.TrainingError as e:
            log(f"  step size {lr}: stopped ({e})")
            scores[str(lr)] = -math.inf
        log(f"  step size {lr}: training bound {scores[str(lr)]:.2f} after {PILOT_SAMPLES:,} samples")
        if best is None or scores[str(lr)] > best[0]:
            best = (scores[str(lr)], lr, model, optimizer, stream)
    return best[1:], scores


def score(model, train, test, seed):
    """log p(x) and the ELBO on the first SCORED training and test images (seeded, so a rerun repeats it)."""
    generator = torch.Generator().manual_seed(seed)
    row = {}
    for split, x in (("train", train[:SCORED]), ("test", test)):
        log_px, ess = log_marginal(model, x, K, generator)
        row[f"{split}_log_px"] = log_px.mean().item()
        row[f"{split}_log_px_se"] = (log_px.std() / math.sqrt(len(log_px))).item()
        row[f"{split}_min_ess"] = ess.min().item()
        row[f"{split}_elbo"] = elbo(model, x, generator).mean().item()
    return row


def run(name, out, max_samples, seed, log, command, quick=False):
    config = dict(RUNS[name])
    train, test = load(config["n_train"])
    if quick:
        train, test = train[:300], test[:50]
    state_path = Path(out).parent / f"figure3.{name}.partial.pt"
    cpu_start = time.process_time()
    if state_path.exists():
        state = torch.load(state_path, weights_only=True)
        assert state["config"] == config and state["seed"] == seed, f"{state_path} is another run's state"
        model = make_model(config["algorithm"], seed)
        model.load_state_dict(state["model"])
        optimizer = make_optimizer(model, state["lr"], len(train))
        optimizer.load_state_dict(state["optimizer"])
        stream = Stream(seed)
        stream.load(state["stream"])
        log(f"{name}: resuming after {state['records'][-1]['samples']:,} samples")
    else:
        log(f"{name}: {config}, {len(train)} training and {len(test)} test images, to {max_samples:,} samples")
        (lr, model, optimizer, stream), scores = choose_step_size(config, train, seed, log)
        state = {"config": config, "seed": seed, "lr": lr, "pilot": scores, "records": [], "cpu_seconds": 0.0}
        log(f"  chose step size {lr}")
    cpu_spent = state["cpu_seconds"]

    def save():
        state.update(model=model.state_dict(), optimizer=optimizer.state_dict(), stream=stream.state(),
                     cpu_seconds=cpu_spent + time.process_time() - cpu_start)
        atomic_write(state_path, lambda f: torch.save(state, f))
        merge_result(out, name, {
            "config": config, "command": command, "seed": seed, "step_size": state["lr"],
            "pilot_training_bound": state["pilot"], "n_train": len(train),
            "n_scored": {"train": min(SCORED, len(train)), "test": len(test)}, "k": K,
            "records": state["records"], **({"k_check": state["k_check"]} if "k_check" in state else {}),
            "cpu_seconds": state["cpu_seconds"], "threads": torch.get_num_threads(),
            "load_average": os.getloadavg()[0], "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())})

    done = state["records"][-1]["samples"] if state["records"] else 0
    for mark in checkpoints(max_samples):
        if mark <= done:
            continue
        torch.manual_seed(seed * 1_000_003 + mark)  # the draws of z in this stretch: the same after a resume
        train_bound = train_samples(model, optimizer, train, mark - done, stream)
        done = mark
        model.eval()
        state["records"].append({"samples": mark, "train_bound_running": train_bound,
                                 **score(model, train, test, seed + mark)})
        model.train()
        save()
        last = state["records"][-1]
        log(f"  {mark:>10,} samples: log p(x) train {last['train_log_px']:.2f}, test {last['test_log_px']:.2f} "
            f"(ELBO {last['train_elbo']:.2f}, {last['test_elbo']:.2f}), {state['cpu_seconds']:.0f} CPU s")
    if done >= max_samples and state.get("k_check", {}).get("samples") != done:
        generator = torch.Generator().manual_seed(seed)
        x = test[:CHECKED]
        model.eval()
        small, _ = log_marginal(model, x, K, generator)
        large, ess = log_marginal(model, x, K_CHECK, generator)
        state["k_check"] = {"samples": done, "images": len(x), "k": K, "k_large": K_CHECK,
                            "log_px_k": small.mean().item(), "log_px_k_large": large.mean().item(),
                            "min_ess_k_large": ess.min().item(),
                            "difference_se": ((large - small).std() / math.sqrt(len(x))).item()}
        save()
        log(f"  k = {K} against {K_CHECK} on {len(x)} test images: {small.mean():.3f} against {large.mean():.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", help=f"some of {', '.join(RUNS)} (default: all)")
    parser.add_argument("--out", default=str(RESULTS / "figure3.json"))
    parser.add_argument("--max-samples", type=float, default=None, help=f"default {SAMPLES:,} ({20_000:,} with --quick)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="aevb-1000 on 300 images, small k")
    args = parser.parse_args(argv)
    unknown = set(args.runs) - set(RUNS)
    if unknown:
        parser.error(f"unknown run(s) {sorted(unknown)}; choose from {', '.join(RUNS)}")
    torch.set_num_threads(args.threads)
    if args.quick:
        global PILOT_SAMPLES, K, K_CHECK, CHECKED
        PILOT_SAMPLES, K, K_CHECK, CHECKED = 1000, 20, 100, 20
    log = lambda *a: print(*a, flush=True)  # noqa: E731
    command = "python benchmarks/figure3.py " + " ".join(argv if argv is not None else sys.argv[1:])
    merge_result(args.out, "about", {"command": command, "latent_dim": LATENT, "hidden": HIDDEN, "k": K,
                                     "scored": SCORED, "machine": machine_info()})
    if args.quick:
        run("aevb-1000", args.out, int(args.max_samples or 20_000), args.seed, log, command, quick=True)
    else:
        for name in args.runs or RUNS:
            run(name, args.out, int(args.max_samples or SAMPLES), args.seed, log, command)


if __name__ == "__main__":
    sys.exit(main())
