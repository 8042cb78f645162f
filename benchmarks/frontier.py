"""Quality per CPU-second: how good a VAE each second of training buys, on MNIST.

    python benchmarks/frontier.py train NAME [--hidden 400 400 --latent 32 --batch 256 ...]
    python benchmarks/frontier.py train NAME ... --validation 10000   # screen: train on 50,000, score the other 10,000
    python benchmarks/frontier.py train NAME ... --final --save F.pt  # no test scores while training
    python benchmarks/frontier.py evaluate NAME      # IW NLL on all 10,000 test images (resumable)
    python benchmarks/frontier.py k-bias NAME --k 50000 --images 500   # what k=5000 leaves, on the same images
    python benchmarks/frontier.py convert NAME ...   # 2-thread wall seconds against 1-thread CPU seconds
    python benchmarks/frontier.py report             # results/frontier.png and the README section

`train` trains one configuration with the protocol of vae_lite.fit (training images binarized
anew every step from their grey levels, Adam, the loss the mean per-example negative ELBO)
plus options fit does not have: a cosine schedule, other activations, Adamax, and an
exponential moving average of the weights (the model scored and saved is the average), and
--train-k K, which trains the same networks on the IWAE's bound L_K instead of the ELBO (Burda et
al.'s other row; not a VAE, so it is kept off the frontier). The
one-cycle schedule, the KL warm-up and the mean-image start it screened are now in the package
(fit's schedule= and warmup=, VAE.start_at_mean_image); this loop keeps its own copies so that
the committed runs stay reproducible with the command stored beside each.
Like fit, it scores the test set after every epoch; that is counted in the training seconds.
The result goes into results/frontier.json under NAME, with the command that produced it:
training wall and CPU seconds (process time; run with --threads 1 on a shared machine), test
-ELBO on all 10,000 test images (binarized once: vae_lite.binarized_test_set), the IW NLL
(k=5000) on the first --iw-images test images with the -ELBO on the same images, active units
(Cov_x E_q[z_d|x] > 0.01, Burda et al.) and the dimensions whose mean KL exceeds 0.1 nats.
Training saves its state every epoch to results/NAME.partial.pt; the same command resumes it.

Recipes are chosen on a validation split, never on the test set: --validation N trains on the
first 60,000 - N training images and scores the last N (binarized once with a fixed seed, like the
test set) after every epoch and at the end, where the test set would be; it does not read the test
set at all, its result says "scored_on": "validation", its per-image log p(x) go to NAME.iw.pt, and
`evaluate` refuses it. --final trains on all training images without scoring anything (no test
score after each epoch): `evaluate` then scores the saved model once on all test images.
`report` tables the validation runs and, per configuration, the final runs' mean ± sd over seeds.

`evaluate` estimates log p(x) with k importance samples on every test image, in chunks of
--chunk images saved to results/NAME.iw.pt as they finish, so it can be stopped and resumed.
`k-bias` estimates it again with a larger k on the first --images test images (resumable too) and
records the paired mean gain over `evaluate`'s estimate on the same images, with its standard error.
"""

import argparse
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import torch
from torch import nn

import vae_lite
from vae_lite._files import atomic_write

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import machine_info, merge_result  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent / "results"
OUT = RESULTS / "frontier.json"
TABLE_START, TABLE_END = "<!-- frontier:start -->", "<!-- frontier:end -->"
SCREEN_TABLE = "<!-- frontier-validation:start -->", "<!-- frontier-validation:end -->"
FINAL_TABLE = "<!-- frontier-final:start -->", "<!-- frontier-final:end -->"
VALIDATION_BINARIZATION_SEED = 1  # the held-out training images, binarized once (the test set's seed is 0)
ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU, "tanh": nn.Tanh, "softplus": nn.Softplus,
               "gelu": nn.GELU}
DEFAULTS = dict(dataset="mnist", arch="mlp", hidden=[400], latent=20, activation="relu", batch=128, lr=1e-3,
                schedule="constant", warmup=0.0, epochs=10, optimizer="adam", ema=0.0, out_bias="zero", seed=0)


# ---------------------------------------------------------------------------------------- model

def build(config, image_shape):
    """A vae_lite.VAE with the configuration's sizes; other activations replace its ReLUs in place."""
    torch.manual_seed(config["seed"])
    if config.get("encoder_hidden"):  # the encoder's own sizes; the decoder has --hidden's
        sizes = dict(encoder_hidden=list(config["encoder_hidden"]), decoder_hidden=list(config["hidden"]))
    else:
        sizes = dict(hidden=list(config["hidden"]))
    if config.get("train_k", 1) > 1:
        model = vae_lite.IWAE(image_shape, latent_dim=config["latent"], arch=config["arch"], k=config["train_k"],
                              **sizes)
    else:
        model = vae_lite.VAE(image_shape, latent_dim=config["latent"], arch=config["arch"], **sizes)
    set_activation(model, config["activation"])
    return model


def set_activation(model, activation):
    if activation == "relu":
        return model
    if model.arch != "mlp":
        raise ValueError("--activation works with --arch mlp only (the conv decoder calls torch.relu itself)")
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.ReLU):
                setattr(module, name, ACTIVATIONS[activation]())
    return model


def start_output_bias_at_data_mean(model, train):
    """Decoder output bias = logit of the mean training image: the first decodes already look like digits."""
    if model.arch != "mlp":
        raise ValueError("--out-bias mean works with --arch mlp only (the conv decoder's bias is per channel)")
    mean = train.mean(dim=0).flatten().clamp(1e-3, 1 - 1e-3)  # (784,)
    with torch.no_grad():
        model.decoder.net[-1].bias.copy_(torch.logit(mean))


def load(path):
    """vae_lite.load, then the activation the checkpoint was trained with (until VAE has an option for it)."""
    model = vae_lite.load(path)
    return set_activation(model, model.checkpoint_extra.get("activation", "relu")).eval()


# ---------------------------------------------------------------------------------------- training

def make_optimizer(config, model):
    if config["optimizer"] == "adamax":
        return torch.optim.Adamax(model.parameters(), lr=config["lr"], foreach=True)
    return torch.optim.Adam(model.parameters(), lr=config["lr"], fused=True)  # as fit does


def make_schedule(config, optimizer, total_steps):
    """The learning rate of every step: constant, cosine from lr to 0, or one-cycle (up for 30 %, then down)."""
    if config["schedule"] == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    if config["schedule"] == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config["lr"], total_steps=total_steps,
                                                   pct_start=0.3, cycle_momentum=False)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def kl_weight(config, step, steps_per_epoch):
    """beta of a step: rising linearly from 0 to 1 over the first `warmup` epochs, then 1."""
    warmup_steps = config["warmup"] * steps_per_epoch
    return min(1.0, step / warmup_steps) if warmup_steps else 1.0


def train(config, data, state_path, log, max_minutes=None, scored=None, scored_on="test"):
    """Train as the configuration says; return the model to score (the average with --ema) and a record.

    `scored` are the binarized images scored after every epoch (the validation set in a validation
    run; None: no per-epoch scores, as in a final run, whose test set `evaluate` scores once).
    """
    model = build(config, data.image_shape)
    if config["out_bias"] == "mean":
        start_output_bias_at_data_mean(model, data.train)
    average = torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config["ema"])) if config["ema"] else None
    optimizer = make_optimizer(config, model)
    steps_per_epoch = math.ceil(len(data.train) / config["batch"])
    schedule = make_schedule(config, optimizer, config["epochs"] * steps_per_epoch)
    generator = torch.Generator().manual_seed(config["seed"])
    records, seconds, cpu_seconds = [], 0.0, 0.0
    if state_path.exists():
        state = torch.load(state_path, weights_only=True)
        if state["config"] == config:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
            if average is not None:
                average.load_state_dict(state["average"])
            generator.set_state(state["generator"])
            torch.set_rng_state(state["rng"])
            records, seconds, cpu_seconds = state["records"], state["seconds"], state["cpu_seconds"]
            log(f"resuming from {state_path} after epoch {len(records)}")
    scored_model = average.module if average is not None else model
    start, cpu_start = time.perf_counter(), time.process_time()
    model.train()
    for epoch in range(len(records) + 1, config["epochs"] + 1):
        if max_minutes is not None and time.perf_counter() - start > 60 * max_minutes:
            log(f"stopping after {max_minutes} minutes, at epoch {epoch - 1} of {config['epochs']}")
            break
        order = torch.randperm(len(data.train), generator=generator)
        total, count = 0.0, 0
        for step in range(steps_per_epoch):
            x = vae_lite.binarize(data.train[order[step * config["batch"]:(step + 1) * config["batch"]]], generator)
            beta = kl_weight(config, (epoch - 1) * steps_per_epoch + step, steps_per_epoch)
            loss = model.loss(x, beta=beta)[0].mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if average is not None:
                average.update_parameters(model)
            total, count = total + loss.item() * len(x), count + len(x)
        record = {"epoch": epoch, "train_loss": total / count, "beta": beta, "lr": optimizer.param_groups[0]["lr"]}
        if scored is not None:
            scores = vae_lite.evaluate(scored_model, scored)  # as fit does after every epoch
            model.train()
            record.update({f"{scored_on}_neg_elbo": -scores["elbo"], f"{scored_on}_kl": scores.get("kl"),
                           # an IWAE reports its bound instead:
                           **({f"{scored_on}_neg_iw_bound": -scores["iw_bound"]} if "iw_bound" in scores else {})})
        records.append({**record, "seconds": seconds + time.perf_counter() - start,
                        "cpu_seconds": cpu_seconds + time.process_time() - cpu_start})
        state = {"config": config, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "schedule": schedule.state_dict(), "average": average.state_dict() if average else None,
                 "generator": generator.get_state(), "rng": torch.get_rng_state(), "records": records,
                 "seconds": records[-1]["seconds"], "cpu_seconds": records[-1]["cpu_seconds"]}
        atomic_write(state_path, lambda f: torch.save(state, f))
        if epoch == 1 or epoch % 10 == 0 or epoch == config["epochs"]:
            score_text = f"{scored_on} -ELBO {-scores['elbo']:.2f}" if scored is not None else \
                f"training loss {record['train_loss']:.2f}"
            log(f"epoch {epoch}: {score_text} (beta {beta:.2f}), {records[-1]['cpu_seconds']:.0f} CPU s")
    complete = len(records) == config["epochs"]
    return scored_model.eval(), records, complete


# ---------------------------------------------------------------------------------------- scoring

@torch.inference_mode()
def latent_usage(model, test):
    """Active units (variance over x of E_q[z_d|x] > 0.01) and dimensions with mean KL > 0.1 nats."""
    mu, logvar = (torch.cat(t) for t in zip(*(model.encode(test[i:i + 1000]) for i in range(0, len(test), 1000))))
    kl_per_dim = 0.5 * (mu.pow(2) + logvar.expm1() - logvar).mean(dim=0)  # (latent,)
    return {"active_units": int((mu.var(dim=0) > 0.01).sum()), "dims_kl_above_0.1": int((kl_per_dim > 0.1).sum()),
            "kl_per_dim": [round(v, 3) for v in kl_per_dim.tolist()]}


@torch.inference_mode()
def elbo_terms(model, x, seed):
    """Per-example ELBO, reconstruction and KL (one z per image, from a seeded generator)."""
    generator = torch.Generator().manual_seed(seed)
    parts = [vae_lite.elbo(model, x[i:i + 1000], generator=generator) for i in range(0, len(x), 1000)]
    return vae_lite.ELBO(*(torch.cat(t) for t in zip(*parts)))


def mean_and_error(values):
    return values.mean().item(), (values.std() / math.sqrt(len(values))).item()


def score(model, images, k, iw_images, seed, scored_on="test"):
    """-ELBO on all the images; IW NLL and -ELBO on the first iw_images; latent usage; the per-image log p(x).

    The keys say which set was scored: test_neg_elbo, or validation_neg_elbo in a validation run.
    """
    terms = elbo_terms(model, images, seed)
    subset = images[:iw_images]
    cpu = time.process_time()
    log_px = vae_lite.iw_log_likelihood(model, subset, k=k, generator=torch.Generator().manual_seed(seed))
    neg_elbo, neg_elbo_error = mean_and_error(-terms.elbo)
    iw_nll, iw_nll_error = mean_and_error(-log_px)
    return {"scored_on": scored_on, f"{scored_on}_images": len(images), f"{scored_on}_neg_elbo": neg_elbo,
            f"{scored_on}_neg_elbo_std_error": neg_elbo_error,
            f"{scored_on}_reconstruction": -terms.reconstruction.mean().item(), f"{scored_on}_kl": terms.kl.mean().item(),
            "iw_k": k, "iw_images": len(subset), "iw_nll": iw_nll, "iw_nll_std_error": iw_nll_error,
            "iw_subset_neg_elbo": -terms.elbo[:iw_images].mean().item(),
            "iw_cpu_seconds": time.process_time() - cpu, **latent_usage(model, images)}, log_px


def run_evaluate(args, argv, log=print):
    """IW NLL with k samples on every test image, chunk by chunk; finished chunks are kept in NAME.iw.pt."""
    torch.set_num_threads(args.threads)
    results = json.loads(Path(args.out).read_text())
    entry = results[args.name]
    if entry.get("scored_on") == "validation" or "validation" in entry["config"]:
        raise SystemExit(f"{args.name} is a validation run (trained without the last {entry['config']['validation']} "
                         "training images): score it on validation only. Train the final run on all training "
                         "images (without --validation) and evaluate that.")
    model = load(Path(args.out).parent / entry["checkpoint"])
    data = vae_lite.load_dataset(entry["config"]["dataset"], download=False)
    test = vae_lite.binarized_test_set(data)
    partial = Path(args.out).parent / f"{args.name}.iw.pt"
    state = torch.load(partial, weights_only=True) if partial.exists() else {"k": args.k, "chunks": [], "cpu": 0.0}
    if state["k"] != args.k:
        raise SystemExit(f"{partial} holds a run with k={state['k']}; delete it to start one with k={args.k}")
    chunks = range(0, len(test), args.chunk)
    for index, start in enumerate(chunks):
        if index < len(state["chunks"]):
            continue
        cpu = time.process_time()
        # one generator per chunk, so a resumed run draws the same samples as an uninterrupted one
        generator = torch.Generator().manual_seed(1_000_000 + index)
        state["chunks"].append(vae_lite.iw_log_likelihood(model, test[start:start + args.chunk], k=args.k,
                                                          generator=generator))
        state["cpu"] += time.process_time() - cpu
        atomic_write(partial, lambda f: torch.save(state, f))
        log(f"chunk {index + 1} of {len(chunks)}: {state['cpu']:.0f} CPU s so far, "
            f"IW NLL so far {-torch.cat(state['chunks']).mean().item():.2f}")
    log_px = torch.cat(state["chunks"])
    terms = elbo_terms(model, test, entry["config"]["seed"])
    neg_elbo, neg_elbo_error = mean_and_error(-terms.elbo)
    iw_nll, iw_nll_error = mean_and_error(-log_px)
    usage = latent_usage(model, test)
    entry["full_evaluation"] = {
        "command": command(argv), "test_images": len(log_px), "k": args.k, "threads": args.threads,
        "neg_elbo": neg_elbo, "neg_elbo_std_error": neg_elbo_error, "iw_nll": iw_nll, "iw_nll_std_error": iw_nll_error,
        "iw_first_1000": -log_px[:1000].mean().item(), "neg_elbo_first_1000": -terms.elbo[:1000].mean().item(),
        "reconstruction": -terms.reconstruction.mean().item(), "kl": terms.kl.mean().item(),
        "active_units": usage["active_units"], "dims_kl_above_0.1": usage["dims_kl_above_0.1"],
        "cpu_seconds": state["cpu"], "machine": machine_info(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    merge_result(args.out, args.name, entry)
    log(f"{args.name}: -ELBO {neg_elbo:.2f} ± {neg_elbo_error:.2f}, IW NLL (k={args.k}, {len(log_px)} images) "
        f"{iw_nll:.2f} ± {iw_nll_error:.2f} nats, {state['cpu']:.0f} CPU s")
    return entry["full_evaluation"]


def run_k_bias(args, argv, log=print):
    """log p(x) with a larger k on the first --images test images, against `evaluate`'s k on the same images.

    The IW estimate is biased low and the bias shrinks as k grows; the paired mean of
    log p_K(x) - log p_k(x) over the same images is how much of it k (e.g. 5000) leaves that K removes,
    with its standard error over images. Chunks are saved to NAME.k{K}.iw.pt as they finish (resumable).
    """
    torch.set_num_threads(args.threads)
    results = json.loads(Path(args.out).read_text())
    entry = results[args.name]
    if "full_evaluation" not in entry:
        raise SystemExit(f"{args.name} has no full evaluation to compare with: run `frontier.py evaluate "
                         f"{args.name}` first")
    small = torch.cat(torch.load(Path(args.out).parent / f"{args.name}.iw.pt", weights_only=True)["chunks"])
    if args.images > len(small):
        raise SystemExit(f"--images {args.images}: the full evaluation has {len(small)} images")
    model = load(Path(args.out).parent / entry["checkpoint"])
    test = vae_lite.binarized_test_set(vae_lite.load_dataset(entry["config"]["dataset"], download=False))
    partial = Path(args.out).parent / f"{args.name}.k{args.k}.iw.pt"
    state = torch.load(partial, weights_only=True) if partial.exists() else {"k": args.k, "chunks": [], "cpu": 0.0}
    chunks = range(0, args.images, args.chunk)
    for index, start in enumerate(chunks):
        if index < len(state["chunks"]):
            continue
        cpu = time.process_time()
        # other seeds than evaluate's (1_000_000 + chunk), so that the two estimates draw independent samples
        generator = torch.Generator().manual_seed(2_000_000 + index)
        end = min(start + args.chunk, args.images)
        state["chunks"].append(vae_lite.iw_log_likelihood(model, test[start:end], k=args.k, generator=generator))
        state["cpu"] += time.process_time() - cpu
        atomic_write(partial, lambda f: torch.save(state, f))
        log(f"chunk {index + 1} of {len(chunks)}: {state['cpu']:.0f} CPU s so far")
    large = torch.cat(state["chunks"])[:args.images]
    k_small = entry["full_evaluation"]["k"]
    gain, gain_error = mean_and_error(large - small[:args.images])
    entry["k_bias"] = {
        "command": command(argv), "images": args.images, "k_small": k_small, "k_large": args.k,
        "iw_nll_small": -small[:args.images].mean().item(), "iw_nll_large": -large.mean().item(),
        "gain": gain, "gain_std_error": gain_error, "cpu_seconds": state["cpu"], "machine": machine_info(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    merge_result(args.out, args.name, entry)
    log(f"{args.name}, first {args.images} test images: IW NLL {-small[:args.images].mean():.3f} (k={k_small}), "
        f"{-large.mean():.3f} (k={args.k}): k={args.k} lowers it by {gain:.3f} ± {gain_error:.3f} nats")
    return entry["k_bias"]


def reference_cpu_seconds(steps=40):
    """CPU seconds of a fixed workload (40 steps of the 784-400-20 VAE, batch 128), measured beside each run.

    On a shared machine one process's CPU time for the same work grows with the load (its caches are
    flushed by the others), so this says how inflated the run's CPU seconds were.
    """
    torch.manual_seed(0)
    model = vae_lite.VAE((1, 28, 28), latent_dim=20, hidden=400)
    optimizer = torch.optim.Adam(model.parameters(), fused=True)
    x = torch.rand(128, 1, 28, 28, generator=torch.Generator().manual_seed(0)).bernoulli()
    start = time.process_time()
    for _ in range(steps):
        loss = model.loss(x)[0].mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.process_time() - start


def command(argv):
    return "python benchmarks/frontier.py " + " ".join(shlex.quote(str(a)) for a in argv)


def split_validation(data, n):
    """The training images without the last n, and those n binarized once with a fixed seed.

    Only data.train is read: a validation run never touches the test set.
    """
    if not 0 < n < len(data.train):
        raise SystemExit(f"--validation {n}: hold out between 1 and {len(data.train) - 1} of the "
                         f"{len(data.train)} training images (10000 for MNIST's usual 50,000/10,000 split)")
    generator = torch.Generator().manual_seed(VALIDATION_BINARIZATION_SEED)
    return vae_lite.ImageData(data.train[:-n], name=data.name), torch.bernoulli(data.train[-n:], generator=generator)


def run_train(args, argv, log=print):
    config = {key: getattr(args, key) for key in DEFAULTS}
    if args.encoder_hidden:  # only then: the configurations recorded before keep their keys
        config["encoder_hidden"] = args.encoder_hidden
    if args.train_k > 1:
        if args.warmup:
            raise SystemExit("--train-k trains the importance-weighted bound, which has no KL weight to warm up: "
                             "add --warmup 0")
        config["train_k"] = args.train_k
    if args.final and args.validation:
        raise SystemExit("--final trains on all training images for a single test score; --validation holds some "
                         "out to screen recipes: give one of them")
    if args.final and not args.save:
        raise SystemExit("--final leaves the scoring to `evaluate`, which needs the model: add --save FILE.pt")
    torch.set_num_threads(args.threads)
    data = vae_lite.load_dataset(config["dataset"], download=False)
    if args.validation:
        data, scored = split_validation(data, args.validation)
        config["validation"] = args.validation
    if args.train_images:
        data = data.subset(train=args.train_images)
        config["train_images"] = args.train_images
    if not args.validation:
        scored = None if args.final else vae_lite.binarized_test_set(data)
    scored_on = "validation" if args.validation else "test"
    log(f"{args.name}: {config}")
    load_before, reference_before = os.getloadavg(), reference_cpu_seconds()
    state_path = Path(args.out).parent / f"{args.name}.partial.pt"
    model, records, complete = train(config, data, state_path, log, args.max_minutes, scored, scored_on)
    result = {"config": config, "command": command(argv), "complete": complete, "epochs_trained": len(records),
              "threads": args.threads, "train_images": len(data.train), "scored_on": scored_on, "final": args.final,
              "train_seconds": records[-1]["seconds"], "train_cpu_seconds": records[-1]["cpu_seconds"],
              "load_average_before_after": [load_before, os.getloadavg()],
              "reference_cpu_seconds_before_after": [reference_before, reference_cpu_seconds()]}
    if complete and scored is not None:
        scores, log_px = score(model, scored, args.k, args.iw_images, config["seed"], scored_on)
        result.update(scores)
        if args.validation:  # per image, so that two recipes can be compared image by image
            iw_path = Path(args.out).parent / f"{args.name}.iw.pt"
            state = {"k": args.k, "chunks": [log_px], "cpu": scores["iw_cpu_seconds"], "scored_on": scored_on}
            atomic_write(iw_path, lambda f: torch.save(state, f))
            result["iw_per_image"] = iw_path.name
    if complete and args.save:
        path = vae_lite.save(model, Path(args.out).parent / args.save, dataset=config["dataset"],
                             activation=config["activation"], epochs=config["epochs"], command=result["command"],
                             **({f"{scored_on}_neg_elbo": result[f"{scored_on}_neg_elbo"]} if scored is not None else {}))
        result["checkpoint"] = path.name
    result.update(epochs=records, machine=machine_info(), when=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    merge_result(args.out, args.name, result)
    if complete:
        state_path.unlink(missing_ok=True)
    if complete and scored is not None:
        log(f"{args.name}: {result['train_cpu_seconds']:.0f} CPU s, {scored_on} -ELBO "
            f"{result[f'{scored_on}_neg_elbo']:.2f}, IW NLL {result['iw_nll']:.2f} ± {result['iw_nll_std_error']:.2f} "
            f"on {result['iw_images']} {scored_on} images (-ELBO there {result['iw_subset_neg_elbo']:.2f}), active units "
            f"{result['active_units']}, KL > 0.1 nats: {result['dims_kl_above_0.1']} of {config['latent']}")
    elif complete:
        log(f"{args.name}: {result['train_cpu_seconds']:.0f} CPU s, not scored: `frontier.py evaluate {args.name}` "
            "scores it once on all test images")
    return result


def run_convert(args, argv, log=print):
    """Train saved configurations with 1 and then 2 threads (and vae_lite.fit on 2 threads, same sizes and
    epochs, constant lr): how 1-thread CPU seconds turn into 2-thread wall seconds, and what fit costs."""
    import tempfile

    results = json.loads(Path(args.out).read_text())
    rows = {}
    for name in args.names:
        config = results[name]["config"]
        data = vae_lite.load_dataset(config["dataset"], download=False)
        row = {"config": config}
        for label, threads in [("1 thread", 1), ("2 threads", 2), ("fit, 2 threads", 2)]:
            torch.set_num_threads(threads)
            load, wall, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
            if label.startswith("fit"):
                model = build(config, data.image_shape)
                vae_lite.fit(model, data, epochs=config["epochs"], batch_size=config["batch"], lr=config["lr"],
                             device="cpu", seed=config["seed"], progress=False)
            else:
                with tempfile.TemporaryDirectory() as folder:
                    train(config, data, Path(folder) / "state.pt", lambda *a: None,
                          scored=vae_lite.binarized_test_set(data))
            row[label] = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                          "load_average_at_start": load}
            log(f"{name}, {label}: {row[label]['wall']:.1f} s wall, {row[label]['cpu']:.1f} CPU s (load {load:.1f})")
        row["wall_2_threads_per_cpu_1_thread"] = row["2 threads"]["wall"] / row["1 thread"]["cpu"]
        row["fit_over_this_loop_2_threads"] = row["fit, 2 threads"]["wall"] / row["2 threads"]["wall"]
        rows[name] = row
    result = {"command": command(argv), "rows": rows, "machine": machine_info(),
              "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    merge_result(Path(args.out).parent / "frontier_threads.json", time.strftime("%Y%m%d-%H%M%S"), result)
    return result


def describe(config):
    """A configuration in one short line, e.g. "mlp 400-400, z 32, batch 256, lr 2e-3 cosine, warm-up 2"."""
    sizes = "-".join(map(str, config["hidden"]))
    if config.get("encoder_hidden"):
        sizes = f"{'-'.join(map(str, config['encoder_hidden']))} (encoder), {sizes} (decoder)"
    parts = [f"{config['arch']} {sizes}", f"z {config['latent']}",
             f"batch {config['batch']}", f"lr {config['lr']:g} {config['schedule']}"]
    parts += [f"warm-up {config['warmup']:g}"] if config["warmup"] else []
    parts += [config["activation"]] if config["activation"] != "relu" else []
    parts += [config["optimizer"]] if config["optimizer"] != "adam" else []
    parts += [f"EMA {config['ema']:g}"] if config["ema"] else []
    parts += ["bias at data mean"] if config["out_bias"] == "mean" else []
    parts += [f"IWAE bound k={config['train_k']}"] if config.get("train_k", 1) > 1 else []
    return ", ".join(parts) + f", {config['epochs']} epochs"


def frontier(points, x, y):
    """The points no other point beats on both x and y (lower is better on both)."""
    best, front = math.inf, []
    for p in sorted(points, key=lambda p: (p[x], p[y])):
        if p[y] < best:
            best = p[y]
            front.append(p)
    return front


def vae_points(results):
    """The finished MNIST VAE runs, the frontier's points (an IWAE run is not a VAE trained on the ELBO)."""
    return [dict(name=n, **r) for n, r in results.items()
            if r.get("complete") and "iw_nll" in r and r["config"]["dataset"] == "mnist"
            and r.get("scored_on", "test") == "test"
            and "train_images" not in r["config"] and r["config"].get("train_k", 1) == 1]


def parameters(config):
    model = build(config, (1, 28, 28))
    return sum(p.numel() for p in model.parameters())


def architecture(config):
    """The networks alone, e.g. "784-200-200-50 tanh" (the decoder mirrors the encoder)."""
    sizes = "-".join(map(str, [784, *config.get("encoder_hidden", config["hidden"]), config["latent"]]))
    return f"{sizes} {config['activation']}"


def per_image_log_px(folder, name):
    return torch.cat(torch.load(Path(folder) / f"{name}.iw.pt", weights_only=True)["chunks"])


def screen_table(results, folder):
    """The validation runs, best IW NLL first within each architecture, each against that best image by image."""
    runs = [dict(name=n, **r) for n, r in results.items() if r.get("scored_on") == "validation" and r.get("complete")]
    if not runs:
        return "(no validation runs yet)"
    (train, held_out, k, iw_images), = {(r["train_images"], r["validation_images"], r["iw_k"], r["iw_images"])
                                        for r in runs}  # one split and one IW protocol, or the rows do not compare
    lines = [f"| Run | networks, parameters | epochs (of {train:,}) | warm-up | CPU-min | −ELBO, {held_out:,} "
             f"validation images | IW NLL, first {iw_images:,} (k={k}) | worse than the best of its networks, image "
             "by image | active units | Command |", "|---|---|---|---|---|---|---|---|---|---|"]
    for arch in sorted({architecture(r["config"]) for r in runs}, key=lambda a: -len(a)):
        these = sorted((r for r in runs if architecture(r["config"]) == arch), key=lambda r: r["iw_nll"])
        best = per_image_log_px(folder, these[0]["name"])
        for r in these:
            gap = best - per_image_log_px(folder, r["name"])
            gap_text = "(best)" if r is these[0] else f"{gap.mean():.2f} ± {gap.std() / math.sqrt(len(gap)):.2f}"
            lines.append(f"| {r['name']}: {describe(r['config'])} | {arch}, {parameters(r['config']):,} | "
                         f"{r['epochs_trained']} | {r['config']['warmup']:g} | {r['train_cpu_seconds'] / 60:.1f} | "
                         f"{r['validation_neg_elbo']:.2f} | {r['iw_nll']:.2f} ± {r['iw_nll_std_error']:.2f} | "
                         f"{gap_text} | {r['active_units']} of {r['config']['latent']} | `{r['command']}` |")
    return "\n".join(lines)


def seed_groups(results):
    """The final runs scored by `evaluate`, grouped by configuration (all but the seed), seeds in order."""
    groups = {}
    for name, r in results.items():
        if r.get("final") and "full_evaluation" in r:
            key = json.dumps({k: v for k, v in r["config"].items() if k != "seed"}, sort_keys=True)
            groups.setdefault(key, []).append(dict(name=name, **r))
    return [sorted(g, key=lambda r: r["config"]["seed"]) for g in groups.values()]


def seed_summary(group):
    """Mean and standard deviation over seeds (n - 1) of the -ELBO and IW NLL on all test images."""
    summary = {}
    for key in ("neg_elbo", "iw_nll"):
        values = torch.tensor([r["full_evaluation"][key] for r in group], dtype=torch.float64)
        summary[key] = (values.mean().item(), values.std().item() if len(values) > 1 else float("nan"))
    return summary


def final_table(results):
    """The final runs: per configuration the mean ± standard deviation over seeds, then each run with its commands."""
    groups = sorted(seed_groups(results), key=lambda g: seed_summary(g)["iw_nll"][0])
    if not groups:
        return "(no final runs yet)"
    lines = ["| Recipe | networks, parameters | epochs | warm-up | CPU-min per run | seeds | test images, k | "
             "−ELBO, mean ± sd over seeds | IW NLL, mean ± sd over seeds |", "|---|---|---|---|---|---|---|---|---|"]
    for g in groups:
        (images, k), = {(r["full_evaluation"]["test_images"], r["full_evaluation"]["k"]) for r in g}
        config, summary = g[0]["config"], seed_summary(g)
        minutes = [r["train_cpu_seconds"] / 60 for r in g]
        spread = lambda key: f"{summary[key][0]:.2f} ± {summary[key][1]:.2f}" if len(g) > 1 else \
            f"{summary[key][0]:.2f} (one seed: no spread)"
        lines.append(f"| {describe(config)} | {architecture(config)}, {parameters(config):,} | "
                     f"{config['epochs']} of {g[0]['train_images']:,} images | "
                     f"{config['warmup']:g} | {min(minutes):.1f}–{max(minutes):.1f} | {len(g)} | {images:,}, {k} | "
                     f"{spread('neg_elbo')} | {spread('iw_nll')} |")
    lines += ["", "| Run | seed | CPU-min | −ELBO ± s.e. over images | IW NLL ± s.e. over images | active units | "
              "Commands (train, then evaluate) |", "|---|---|---|---|---|---|---|"]
    for g in groups:
        for r in g:
            full = r["full_evaluation"]
            lines.append(f"| {r['name']} | {r['config']['seed']} | {r['train_cpu_seconds'] / 60:.1f} | "
                         f"{full['neg_elbo']:.2f} ± {full['neg_elbo_std_error']:.2f} | "
                         f"{full['iw_nll']:.2f} ± {full['iw_nll_std_error']:.2f} | "
                         f"{full.get('active_units', '')} of {r['config']['latent']} | "
                         f"`{r['command']}`, then `{full['command']}` |")
    return "\n".join(lines)


def replace_between(text, markers, table):
    start, end = markers
    if start not in text or end not in text:
        return text
    head, rest = text.split(start, 1)
    return head + start + "\n" + table + "\n" + end + rest.split(end, 1)[1]


def run_report(args, argv, log=print):
    """results/frontier.png and the README's "Quality per CPU-second" tables, from results/frontier*.json."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = vae_points(json.loads(Path(args.out).read_text()))
    if not points:
        raise SystemExit(f"no complete MNIST runs in {args.out}")
    factor = wall_per_cpu(Path(args.out).parent / "frontier_threads.json")
    plt.style.use("petroff10")
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), dpi=100, sharex=True)
    for ax, key, label in [(axes[0], "iw_nll", f"IW NLL, k=5000, first {points[0]['iw_images']} test images"),
                           (axes[1], "test_neg_elbo", "−ELBO, all 10,000 test images")]:
        for arch, marker in [("mlp", "o"), ("conv", "s")]:
            these = [p for p in points if p["config"]["arch"] == arch]
            ax.scatter([p["train_cpu_seconds"] for p in these], [p[key] for p in these], marker=marker,
                       label=f"{arch.upper()} runs", alpha=0.7)
        front = frontier(points, "train_cpu_seconds", key)
        ax.step([p["train_cpu_seconds"] for p in front], [p[key] for p in front], where="post", color="k",
                lw=1.5, label="frontier")
        if factor:
            ax.axvline(60 / factor, color="0.4", ls="--", lw=1.2, label="60 s wall on 2 threads")
        ax.set_xscale("log")
        ax.set_xlabel("training CPU seconds (1 thread)")
        ax.set_ylabel(f"{label} (nats)")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(Path(args.out).parent / "frontier.png")
    wall = " 2-thread wall s (est.) |" if factor else ""  # only once `convert` has measured the factor
    lines = [f"| Configuration | CPU s |{wall} −ELBO, 10k | IW NLL, first {points[0]['iw_images']} "
             "(k=5000) | −ELBO, same images | active units | KL > 0.1 nats | Command |",
             "|---|---|" + ("---|" if factor else "") + "---|---|---|---|---|---|"]
    front_names = {p["name"] for p in frontier(points, "train_cpu_seconds", "iw_nll")}
    for p in sorted(points, key=lambda p: p["train_cpu_seconds"]):
        name = f"**{p['name']}**" if p["name"] in front_names else p["name"]
        lines.append(f"| {name}: {describe(p['config'])} | {p['train_cpu_seconds']:.0f} | "
                     + (f"{factor * p['train_cpu_seconds']:.0f} | " if factor else "") + f"{p['test_neg_elbo']:.2f} | "
                     f"{p['iw_nll']:.2f} ± {p['iw_nll_std_error']:.2f} | {p['iw_subset_neg_elbo']:.2f} | "
                     f"{p['active_units']} of {p['config']['latent']} | {p['dims_kl_above_0.1']} | `{p['command']}` |")
    table = "\n".join(lines)
    results = json.loads(Path(args.out).read_text())
    screen, final = screen_table(results, Path(args.out).parent), final_table(results)
    readme = Path(args.readme)
    text = readme.read_text()
    for markers, this in [((TABLE_START, TABLE_END), table), (SCREEN_TABLE, screen), (FINAL_TABLE, final)]:
        text = replace_between(text, markers, this)
    atomic_write(readme, lambda f: f.write(text.encode()))
    log(table, screen, final, sep="\n\n")
    return table


def wall_per_cpu(path):
    """The largest measured ratio of 2-thread wall seconds to 1-thread CPU seconds (None if not measured)."""
    if not path.exists():
        return None
    ratios = [row["wall_2_threads_per_cpu_1_thread"] for run in json.loads(path.read_text()).values()
              for row in run["rows"].values()]
    return max(ratios) if ratios else None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("train", help="train one configuration and score it")
    p.add_argument("name")
    p.add_argument("--dataset", default=DEFAULTS["dataset"])
    p.add_argument("--arch", default=DEFAULTS["arch"], choices=["mlp", "conv"])
    p.add_argument("--hidden", type=int, nargs="+", default=DEFAULTS["hidden"])
    p.add_argument("--encoder-hidden", type=int, nargs="+", default=None,
                   help="the encoder's hidden sizes, if not --hidden's (the decoder keeps --hidden)")
    p.add_argument("--latent", type=int, default=DEFAULTS["latent"])
    p.add_argument("--activation", default=DEFAULTS["activation"], choices=sorted(ACTIVATIONS))
    p.add_argument("--batch", type=int, default=DEFAULTS["batch"])
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--schedule", default=DEFAULTS["schedule"], choices=["constant", "cosine", "onecycle"])
    p.add_argument("--warmup", type=float, default=DEFAULTS["warmup"], help="KL warm-up, in epochs")
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    p.add_argument("--optimizer", default=DEFAULTS["optimizer"], choices=["adam", "adamax"])
    p.add_argument("--ema", type=float, default=DEFAULTS["ema"], help="decay of the weight average (0: none)")
    p.add_argument("--out-bias", dest="out_bias", default=DEFAULTS["out_bias"], choices=["zero", "mean"])
    p.add_argument("--train-k", type=int, default=1, help="train on the IWAE bound with K samples (1: the ELBO)")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--train-images", type=int, default=None, help="train on the first N images (smoke tests)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--k", type=int, default=5000)
    p.add_argument("--iw-images", type=int, default=1000)
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--validation", type=int, default=0,
                   help="hold out the last N training images, train on the rest and score on those N, never on "
                        "the test set (to screen recipes)")
    p.add_argument("--final", action="store_true",
                   help="no test scores during training; `evaluate` then scores the saved model once on all test "
                        "images (needs --save)")
    p.add_argument("--save", default=None, help="checkpoint file name in the results folder")
    p.add_argument("--out", default=str(OUT))
    p = commands.add_parser("evaluate", help="IW NLL of a saved model on every test image (resumable)")
    p.add_argument("name")
    p.add_argument("--k", type=int, default=5000)
    p.add_argument("--chunk", type=int, default=250, help="images per saved chunk")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(OUT))
    p = commands.add_parser("k-bias", help="IW NLL with a larger k on the first test images, paired with evaluate's")
    p.add_argument("name")
    p.add_argument("--k", type=int, default=50_000)
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--chunk", type=int, default=25, help="images per saved chunk")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(OUT))
    p = commands.add_parser("convert", help="1-thread CPU seconds against 2-thread wall seconds")
    p.add_argument("names", nargs="+")
    p.add_argument("--out", default=str(OUT))
    p = commands.add_parser("report", help="the frontier figure and the README tables")
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--readme", default=str(Path(__file__).resolve().parent / "README.md"))
    args = parser.parse_args(argv)
    log = lambda *a, **k: print(*a, **k, flush=True)  # noqa: E731
    if args.command == "train":
        run_train(args, argv, log)
    elif args.command == "evaluate":
        run_evaluate(args, argv, log)
    elif args.command == "k-bias":
        run_k_bias(args, argv, log)
    elif args.command == "convert":
        run_convert(args, argv, log)
    elif args.command == "report":
        run_report(args, argv, log)


if __name__ == "__main__":
    sys.exit(main())
