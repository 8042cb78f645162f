"""The default recipe's last screen: which learning rate, epochs and warm-up buy the most in a minute.

    python benchmarks/recipe_screen.py NAME [--epochs 16 --lr 8e-3 --warmup 2 --batch 256 ...]
    python benchmarks/recipe_screen.py --table     # the runs so far, best first: test runs, then validation runs
    python benchmarks/recipe_screen.py NAME --iw-images 1000   # and its IW NLL (k = 5000) on the first 1000 test images
    python benchmarks/recipe_screen.py NAME --validation 10000 ...   # screen: train on 50,000, score the other 10,000

Each call trains one VAE on MNIST with vae_lite.fit itself, exactly as pretrained.train_default_model
does (seed 0, the mean-image start, a one-cycle learning rate, KL warm-up), with one setting
changed, on one thread, and adds its test -ELBO (all 10,000 test images), training wall and CPU
seconds and its command to results/recipe_screen.json under NAME. frontier.py found the
architecture (784-400-50) and the kind of schedule; this screen tunes them for a one-minute
budget on 2 cores, where 16 epochs of 256 fit and 20 do not. The pick is scored properly
(IW NLL with k = 5000 on all 10,000 test images) by `quality.py mnist-default`.

The first screen ranked its runs by the test -ELBO, which lets the test set choose the recipe.
--validation N redoes a run the right way: it trains on the training images without the last N and
scores those N after every epoch, exactly as the test set was scored (so the timed work is the
same), never touching the test set; such runs go to results/recipe_screen_validation.json.

--iw-images N scores the trained model here too: the IW NLL (k = 5000) on the first N binarized
test images, with its standard error, after the timed training (--iw-out keeps the per-image
values, so that two runs can be compared image by image). --no-epoch-test trains without fit's
test scoring after every epoch (the data passed to fit have no test set; the test -ELBO is then
computed once, after the timing): what a caller that keeps no records, like
pretrained.train_default_model, could save. --encoder-hidden gives the encoder other hidden sizes
than the decoder (--hidden) by building VAE(hidden=...) and then a new encoder, as the screen did
before VAE took encoder_hidden and decoder_hidden; the initial weights therefore differ from
VAE(encoder_hidden=..., decoder_hidden=...)'s (the shipped default is scored by quality.py).
"""

import argparse
import dataclasses
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import torch

import vae_lite
from vae_lite._files import atomic_write

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import machine_info, merge_result  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "results" / "recipe_screen.json"
OUT_VALIDATION = OUT.with_name("recipe_screen_validation.json")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?")
    p.add_argument("--dataset", default="mnist", help="another data set only for smoke tests")
    p.add_argument("--hidden", type=int, nargs="+", default=[400])
    p.add_argument("--encoder-hidden", type=int, nargs="+", default=None,
                   help="the encoder's hidden sizes, when not --hidden's (the decoder keeps --hidden)")
    p.add_argument("--latent", type=int, default=50)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=5e-3, help="the one-cycle peak")
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--warmup", type=float, default=2, help="KL warm-up, in epochs")
    p.add_argument("--beta2", type=float, default=0.999, help="Adam's second-moment decay")
    p.add_argument("--pct", type=float, default=0.3, help="share of the steps in which the learning rate rises")
    p.add_argument("--train-images", type=int, default=None, help="train on the first N images (smoke tests)")
    p.add_argument("--seed", type=int, default=0, help="the initial weights, the order and the binarization")
    p.add_argument("--no-epoch-test", action="store_true", help="skip fit's test scoring after every epoch")
    p.add_argument("--iw-images", type=int, default=0, help="IW NLL on the first N test images (0: none)")
    p.add_argument("--k", type=int, default=5000, help="importance samples of the IW NLL")
    p.add_argument("--iw-out", default=None, help="save the per-image log p(x) estimates to this .pt file")
    p.add_argument("--validation", type=int, default=0,
                   help="hold out the last N training images and score them instead of the test set")
    p.add_argument("--table", action="store_true", help="print the runs so far")
    p.add_argument("--out", default=None, help=f"default: {OUT.name}, or {OUT_VALIDATION.name} with --validation")
    args = p.parse_args(argv)
    if args.table:  # both screens, unless --out names one file
        for path in [Path(args.out)] if args.out else [path for path in (OUT, OUT_VALIDATION) if path.is_file()]:
            print_table(path)
        return
    args.out = args.out or str(OUT_VALIDATION if args.validation else OUT)
    if args.validation and args.iw_images:
        p.error("--iw-images scores test images: a --validation run scores only its held-out ones")
    if not args.name:
        p.error("give the run a NAME (or --table)")

    torch.set_num_threads(1)  # CPU seconds that the shared machine's load does not inflate
    data = vae_lite.load_dataset(args.dataset)
    if args.train_images:
        data = data.subset(train=args.train_images)
    if args.validation:  # the held-out images take the test set's place, binarized and scored the same way
        if not 0 < args.validation < len(data.train):
            p.error(f"--validation {args.validation}: hold out between 1 and {len(data.train) - 1} training images")
        data = vae_lite.ImageData(data.train[:-args.validation], data.train[-args.validation:], name=data.name)
    scored_on = "validation" if args.validation else "test"
    torch.manual_seed(args.seed)
    hidden = args.hidden[0] if len(args.hidden) == 1 else args.hidden
    model = vae_lite.VAE(data.image_shape, latent_dim=args.latent, hidden=hidden)
    if args.encoder_hidden:  # same output as VAE's own encoder: mu and logvar, 2 * latent numbers
        model.encoder = vae_lite.networks.make_encoder("mlp", model.image_shape, args.encoder_hidden, 2 * args.latent)
    model.start_at_mean_image(data.train)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, args.beta2), fused=True)
    # fit fixes OneCycleLR's pct_start at 0.3; the screen tries other values through this one wrapper
    one_cycle = torch.optim.lr_scheduler.OneCycleLR
    torch.optim.lr_scheduler.OneCycleLR = lambda *a, **kw: one_cycle(*a, **{**kw, "pct_start": args.pct})
    start, cpu = time.perf_counter(), time.process_time()
    try:
        history = vae_lite.fit(model, dataclasses.replace(data, test=None) if args.no_epoch_test else data,
                               epochs=args.epochs, batch_size=args.batch, lr=args.lr,
                               schedule="onecycle", warmup=args.warmup, optimizer=optimizer, progress=False,
                               device="cpu", seed=args.seed)
    finally:
        torch.optim.lr_scheduler.OneCycleLR = one_cycle
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    test = vae_lite.binarized_test_set(data)  # with --validation: the held-out training images
    final = vae_lite.evaluate(model, test) if args.no_epoch_test else {k[5:]: v for k, v in history.last.items()
                                                                       if k.startswith("test_")}
    result = {
        "command": "python benchmarks/recipe_screen.py " + shlex.join([args.name, *[a for a in argv if a != args.name]]),
        "settings": {k: v for k, v in vars(args).items() if k not in ("name", "table", "out")},
        "train_seconds": round(seconds, 1), "train_cpu_seconds": round(cpu_seconds, 1),
        f"{scored_on}_neg_elbo": -final["elbo"], f"{scored_on}_kl": final["kl"], "scored_on": scored_on,
        "load_average_after": os.getloadavg()[0], "machine": machine_info(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    if args.iw_images:
        result.update(iw_score(model, test[:args.iw_images], args.k, args.seed, args.iw_out))
    merge_result(args.out, args.name, result)
    iw = f", IW NLL {result['iw_nll']:.2f} +- {result['iw_nll_std_error']:.2f} ({args.iw_images} images)" \
        if args.iw_images else ""
    print(f"{args.name}: {scored_on} -ELBO {result[f'{scored_on}_neg_elbo']:.2f} nats{iw}, "
          f"{result['train_cpu_seconds']:.0f} CPU-s")


def iw_score(model, x, k, seed, out=None):
    """IW NLL (k importance samples) of the images x, as frontier.py scores its runs."""
    cpu = time.process_time()
    log_px = vae_lite.iw_log_likelihood(model, x, k=k, generator=torch.Generator().manual_seed(seed))
    if out:  # complete or not at all, in a folder made if need be
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(out), lambda f: torch.save(log_px, f))
    return {"iw_k": k, "iw_images": len(x), "iw_nll": -log_px.mean().item(),
            "iw_nll_std_error": (log_px.std() / math.sqrt(len(log_px))).item(),
            "iw_subset_neg_elbo": -vae_lite.evaluate(model, x)["elbo"], "iw_cpu_seconds": round(time.process_time() - cpu, 1)}


def print_table(path):
    """The runs of one file, best first by the set they were scored on (test, or held-out training images)."""
    runs = json.loads(path.read_text())
    scored_on = {run.get("scored_on", "test") for run in runs.values()}
    if len(scored_on) != 1:
        raise SystemExit(f"{path} mixes runs scored on {sorted(scored_on)}: keep validation runs in their own file")
    key = f"{scored_on.pop()}_neg_elbo"
    print(f"| Run | CPU s | {key.split('_')[0]} −ELBO | IW NLL (images) | Command |\n|---|---|---|---|---|")
    for name, run in sorted(runs.items(), key=lambda item: item[1][key]):
        iw = f"{run['iw_nll']:.2f} ± {run['iw_nll_std_error']:.2f} ({run['iw_images']})" if "iw_nll" in run else ""
        print(f"| {name} | {run['train_cpu_seconds']:.0f} | {run[key]:.2f} | {iw} | `{run['command']}` |")


if __name__ == "__main__":
    main()
