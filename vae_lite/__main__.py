"""Train and evaluate from the shell.

    python -m vae_lite train --dataset mnist --out model.pt     # the default model (a minute on 2 cores)
    python -m vae_lite evaluate model.pt --dataset mnist --k 5000
"""

import argparse
import sys

import torch

from . import checkpoint, data, models, networks, objectives, pretrained, train


def _hidden(text):
    sizes = [int(s) for s in text.split(",")]
    return sizes[0] if len(sizes) == 1 else sizes


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m vae_lite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    t = commands.add_parser("train", help="train a VAE (or an autoencoder) and print its test ELBO")
    t.add_argument("--dataset", default="auto", choices=data.DATASETS)
    t.add_argument("--model", default="vae", choices=["vae", "ae"])
    t.add_argument("--arch", default="mlp", choices=networks.ARCHS)
    t.add_argument("--likelihood", default="bernoulli", choices=models.LIKELIHOODS)
    recipe = pretrained.TRAINING  # the defaults train the package's default model
    t.add_argument("--latent-dim", type=int, default=pretrained.SETTINGS["latent_dim"])
    t.add_argument("--hidden", type=_hidden, default=None,
                   help="hidden layer sizes of both networks, e.g. 400 or 500,500 (replaces the next two)")
    t.add_argument("--encoder-hidden", type=_hidden, default=pretrained.SETTINGS["encoder_hidden"])
    t.add_argument("--decoder-hidden", type=_hidden, default=pretrained.SETTINGS["decoder_hidden"])
    t.add_argument("--epochs", type=int, default=recipe["epochs"])
    t.add_argument("--batch-size", type=int, default=recipe["batch_size"])
    t.add_argument("--lr", type=float, default=recipe["lr"], help="the peak learning rate with --schedule onecycle")
    t.add_argument("--schedule", default=recipe["schedule"], choices=["constant", "onecycle"])
    t.add_argument("--warmup", type=float, default=recipe["warmup"], help="KL warm-up, in epochs (0: none)")
    t.add_argument("--grey-start", action="store_true",
                   help="start the decoder at uniform grey, not at the mean training image")
    t.add_argument("--beta", type=float, default=1.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--out", help="where to save the trained model (.pt)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    e = commands.add_parser("evaluate", help="test ELBO and importance-weighted log-likelihood of a checkpoint")
    e.add_argument("checkpoint")
    e.add_argument("--dataset", default="auto", choices=data.DATASETS)
    e.add_argument("--k", type=int, default=5000, help="importance samples per image")
    e.add_argument("--limit", type=int, help="only the first LIMIT test images")
    e.add_argument("--device", default="auto")

    args = parser.parse_args(argv)
    try:
        return _train(args) if args.command == "train" else _evaluate(args)
    except (ValueError, FileNotFoundError, data.DataError, checkpoint.CheckpointError, train.TrainingError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _train(args):
    dataset = data.load_dataset(args.dataset)
    cls = models.VAE if args.model == "vae" else models.Autoencoder
    torch.manual_seed(args.seed)  # the initial weights too, so --seed reproduces the whole run
    model = cls(dataset.image_shape, latent_dim=args.latent_dim, hidden=args.hidden, arch=args.arch,
                likelihood=args.likelihood, encoder_hidden=args.encoder_hidden, decoder_hidden=args.decoder_hidden)
    if not args.grey_start:
        model.start_at_mean_image(dataset.train)
    history = train.fit(model, dataset, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                        beta=args.beta, device=args.device, seed=args.seed, progress=not args.quiet,
                        schedule=args.schedule, warmup=min(args.warmup, args.epochs))
    for r in history.records:
        terms = "  ".join(f"{k} {v:.2f}" for k, v in r.items() if k.startswith("test_"))
        print(f"epoch {r['epoch']:3d}  {r['seconds']:.2f} s  {terms}")
    last = history.last
    seconds = sum(history["seconds"]) / max(1, len(history))
    if "test_elbo" in last:
        print(f"test negative ELBO: {-last['test_elbo']:.2f} nats per image "
              f"({dataset.name}, {len(history)} epochs, {seconds:.2f} s per epoch on {history.device})")
    elif "test_loss" in last:
        print(f"test reconstruction loss: {last['test_loss']:.2f} nats per image ({seconds:.2f} s per epoch)")
    if args.out:
        checkpoint.save(model, args.out, dataset=dataset.name, epochs=len(history), history=history.records)
        print(f"saved {args.out}")
    return 130 if history.interrupted else 0


def _evaluate(args):
    device = train.pick_device(args.device)
    model = checkpoint.load(args.checkpoint, device=device)
    if not isinstance(model, models.VAE):
        raise ValueError("evaluate needs a VAE checkpoint; an autoencoder has no likelihood bound")
    dataset = data.load_dataset(args.dataset)
    x = data.binarized_test_set(dataset) if model.likelihood == "bernoulli" else dataset.test
    x = x[: args.limit].to(device)
    torch.manual_seed(0)
    with torch.inference_mode():
        elbo = objectives.elbo(model, x).elbo
    iw = objectives.iw_log_likelihood(model, x, k=args.k)
    print(f"{len(x)} test images of {dataset.name}:")
    print(f"  test negative ELBO:                    {-elbo.mean().item():.2f} nats per image")
    print(f"  importance-weighted NLL (k={args.k}): {-iw.mean().item():.2f} nats per image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
