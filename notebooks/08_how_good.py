# %% [markdown]
# # 08 How good is it?
#
# Previous: [07 The latent space](07_latent_space.ipynb) · Next: [09 The paper, reproduced](09_paper_reproduced.ipynb)
#
# The ELBO is a lower bound on log p(x). How far below? How do our numbers compare with published ones, and what
# does the KL weight β trade?
#
# **Learning goals**
# - estimate log p(x) with importance sampling and see the bound tighten as the number of samples k grows;
# - compare numbers only on the same images, and say what else differs from a published number;
# - read β as a trade-off between rate (KL) and distortion (reconstruction error);
# - see posterior collapse: latent dimensions switching off as β grows, counted two ways that agree.

# %% [markdown] tags=["badges"]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-lite/vae_lite/blob/main/notebooks/08_how_good.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/vae-lite/vae_lite/main?labpath=notebooks%2F08_how_good.ipynb)

# %% tags=["bootstrap"]
# Colab, or a Jupyter without vae_lite: install vae_lite from the repository (keeping the torch that
# is already there) and, on Colab, switch on the widget manager ipywidgets 8 needs. Elsewhere
# (`make lab`, Binder) this cell does nothing.
import importlib.util, os, subprocess, sys, tempfile

if importlib.util.find_spec("vae_lite") is None:
    repository = os.environ.get("VAE_LITE_REPOSITORY", "https://github.com/vae-lite/vae_lite")
    clone = os.path.abspath("..")  # a bare Jupyter started inside a clone: install that clone
    if not os.path.isfile(os.path.join(clone, "vae_lite", "__init__.py")):
        clone = os.path.abspath("vae_lite")  # Colab: clone the repository into the current folder
    if not os.path.isdir(clone):
        subprocess.run(["git", "clone", "--quiet", "--depth=1", repository, clone], check=True)
    keep_torch = []
    if importlib.util.find_spec("torch") is not None:  # pip must not swap it for another build
        from importlib.metadata import version
        constraint = os.path.join(tempfile.gettempdir(), "vae_lite-keep-torch.txt")
        with open(constraint, "w") as f:
            f.write(f"torch=={version('torch')}\n")
        keep_torch = ["--constraint", constraint]
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *keep_torch, "--editable", clone],
                   check=True)
    sys.path.insert(0, clone)  # importable in this kernel without a restart
if os.path.isfile(os.path.join("vae_lite", "notebooks", "jupytext.toml")):  # also after a restart
    os.chdir(os.path.join("vae_lite", "notebooks"))  # into the clone: data/ and benchmarks/ are there
if "google.colab" in sys.modules:
    from google.colab import output
    output.enable_custom_widget_manager()

# %% [markdown]
# ## Setup

# %%
import math

import matplotlib.pyplot as plt
import torch

import vae_lite
import vae_lite.check
from vae_lite import latent, plots, pretrained

QUICK = vae_lite.setup_notebook()

# %% [markdown]
# ## Data
#
# Test images binarized once with a fixed seed (`vae_lite.binarized_test_set`), so every number below is on the
# same binary images: a Bernoulli likelihood is a likelihood only on binary data.

# %%
data = vae_lite.load_dataset()
if QUICK:
    data = data.subset(train=3000, test=1000)
x_test = vae_lite.binarized_test_set(data)
IW_IMAGES, KS = (100, [1, 10, 100]) if QUICK else (500, [1, 10, 100, 1000])
IW_IMAGES = min(IW_IMAGES, len(x_test))
print(data)

# %% [markdown]
# ## Model
#
# The default VAE of notebook 07 (the package's pretrained model; its picture is at the top of notebook 05).

# %%
model = pretrained.default_model(data)
torch.manual_seed(0)
test = vae_lite.evaluate(model, x_test)
print(f"test negative ELBO on all {len(x_test)} test images: {-test['elbo']:.2f} nats per image")

# %% [markdown]
# ## Experiments
#
# ### The importance-weighted bound
#
# With k samples z₁…z_k from q(z|x) (Burda et al., 2015):
#
# $$\log p(x) \;\ge\; \mathbb{E}\Big[\log \frac1k \sum_{i=1}^k \frac{p(x|z_i)\,p(z_i)}{q(z_i|x)}\Big] \;=\; \mathcal{L}_k,
# \qquad \mathcal{L}_1 = \mathrm{ELBO} \le \mathcal{L}_{10} \le \dots \to \log p(x).$$
#
# The gap between the ELBO and log p(x) is KL(q(z|x) ‖ p(z|x)): how far the encoder is from the true posterior.
# The estimate costs k decoder passes per image, so here it runs on a few hundred test images drawn at random
# (the first ones in the file are easier than the rest), and the ELBO is taken on **the same images**. Each
# difference below is averaged over those images, with its standard error.
#
# The estimator in a few lines, next to `vae_lite.iw_log_likelihood`, on the same images with k = 100:

# %%
pick = torch.randperm(len(x_test), generator=torch.Generator().manual_seed(0))[:IW_IMAGES]
x = x_test[pick]
k = 100
with torch.inference_mode():
    mu, logvar = model.encode(x[:100])
    z = vae_lite.reparameterize(mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape))  # (k, N, d)
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(dim=-1)
    log_q = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(dim=-1)
    log_weights = model.log_likelihood(x[:100], z) + log_prior - log_q  # (k, N)
    by_hand = torch.logsumexp(log_weights, dim=0) - math.log(k)  # one estimate per image
    package = vae_lite.iw_log_likelihood(model, x[:100], k=k)
noise = ((by_hand - package).std() / math.sqrt(len(mu))).item()  # two independent estimates: their spread
print(f"log p(x) estimate, k = {k}, {len(mu)} images: by hand {by_hand.mean():.2f} nats, "
      f"vae_lite {package.mean():.2f} nats (they differ by sampling noise, about ± {noise:.2f})")
assert abs(by_hand.mean() - package.mean()) < 4 * noise + 0.01, \
    "vae_lite's IW estimate should be log (1/k) Σ p(x|z) p(z) / q(z|x): check the − log k and log q with σ, not σ²"

# %% [markdown]
# **Predict, then run.** With k = 1 the bound is the ELBO. How much will k = 10 add: a hundredth of a nat, a tenth,
# or several nats? And k = 1000 over k = 100?

# %%
torch.manual_seed(0)
with torch.inference_mode():  # 100 samples per image: a precise ELBO; 100 images at a time, to save memory
    elbo_per_image = torch.cat([vae_lite.elbo(model, x[i:i + 100], samples=100).elbo for i in range(0, len(x), 100)])
elbo_here = elbo_per_image.mean().item()
iw_per_image, iw, gap, gap_error = {}, {}, {}, {}
for k in KS:
    iw_per_image[k] = per_image = vae_lite.iw_log_likelihood(model, x, k=k)
    difference = per_image - elbo_per_image  # the same images: a paired difference
    iw[k], gap[k] = per_image.mean().item(), difference.mean().item()
    gap_error[k] = (difference.std() / math.sqrt(len(x))).item()
    print(f"k = {k:5d}: importance-weighted bound {iw[k]:8.2f} nats;  bound − ELBO = {gap[k]:+.2f} ± {gap_error[k]:.2f}")
print(f"ELBO (100 samples per image):     {elbo_here:8.2f} nats, on the same {len(x)} random test images")
spread = (elbo_per_image.std() / math.sqrt(len(x))).item()
print(f"(the negative ELBO of these {len(x)} images: {-elbo_here:.2f} ± {spread:.2f}; of all {len(x_test)}: "
      f"{-test['elbo']:.2f}; a random subset differs from the whole only by chance, here by "
      f"{abs(elbo_here - test['elbo']) / spread:.1f} standard errors)")
assert abs(gap[1]) < 4 * gap_error[1] + 0.05, \
    "with k = 1 the importance-weighted bound is the ELBO, up to sampling noise: is the ELBO reconstruction MINUS the KL?"
values = [iw[k] for k in KS]
assert all(b > a for a, b in zip(values, values[1:])), "the bound should tighten (grow) as k grows"

# %% [markdown]
# At k = 1 the bound and the ELBO are two estimates of the same number (one sample of z per image against a
# hundred), so they differ only by sampling noise: a few standard errors (the ±) at most. Each larger k sits
# higher: the bound tightens.
#
# *Figure: the mean importance-weighted bound against k on a log axis, rising from the ELBO (a dashed line) and
# flattening.*

# %%
fig, ax = plt.subplots()
plots.plot_iw_bound(KS, values, elbo_here, ax=ax, title=f"log p(x) estimates, the same {len(x)} random test images")
plt.show()
gains = [b - a for a, b in zip(values, values[1:])]
print("gain per tenfold k:", ", ".join(f"{g:.2f}" for g in gains), "nats")
assert gains[-1] < gains[0], "each tenfold increase of k should gain less than the one before"

# %% [markdown]
# The gain shrinks with k: each tenfold increase of k buys less. That is why a k of 5000 is enough for the numbers
# in papers. The benchmark (`python -m vae_lite evaluate <checkpoint> --dataset mnist --k 5000`) runs that on all
# 10,000 test images; it takes minutes, too long for class.
#
# ### Next to published numbers
#
# Published negative log-likelihoods on MNIST, next to ours. Lower is better. They are **not** measured the same
# way, and the differences matter more than the digits:
#
# | | our default model | Burda et al. (2015), Table 1 |
# |---|---|---|
# | model | the cell above | VAE, one stochastic layer: 2 hidden layers of 200 tanh, 50 latent dims |
# | training | under a minute on 2 CPU cores | 3,280 epochs |
# | data | dynamic binarization; test set binarized once, fixed seed | dynamically binarized MNIST |
# | number | IW bound with k ≤ 1000 on a random subset of test images, ± its standard error over images | **86.76** nats: −log p(x) estimated with k = 5000 on all 10,000 test images |
#
# Kingma & Welling (2013, Fig. 2) plot only the lower bound (ELBO) against training time, read off a figure.

# %%
BURDA_VAE_NLL = 86.76  # Burda et al. (2015), Table 1: VAE, 1 stochastic layer, k = 1 training, NLL with k = 5000
per_image_nll = -iw_per_image[KS[-1]]
ours_iw, ours_error = per_image_nll.mean().item(), (per_image_nll.std() / math.sqrt(len(x))).item()
print(f"model: {model.arch.upper()}, hidden layers {list(model.encoder_hidden)} (encoder) and "
      f"{list(model.decoder_hidden)} (decoder), {model.latent_dim} latent dimensions")
if data.name == "mnist":
    print(f"{'':52s} nats per image")
    print(f"{f'ours: negative ELBO, the same {len(x)} random test images':52s} {-elbo_here:6.2f}")
    print(f"{f'ours: IW NLL, k = {KS[-1]}, the same {len(x)} images':52s} {ours_iw:6.2f} ± {ours_error:.2f}")
    print(f"{'Burda et al. 2015 VAE: IW NLL, k = 5000, all 10,000':52s} {BURDA_VAE_NLL:6.2f}")
    print(f"ours is {ours_iw - BURDA_VAE_NLL:.1f} nats {'above' if ours_iw > BURDA_VAE_NLL else 'below'} Burda's; "
          f"a larger k would lower ours by less than the last tenfold gain, {gains[-1]:.2f} nats")
else:
    print(f"the published numbers are for MNIST; this is {data.name}: no comparison (IW NLL here {ours_iw:.2f} "
          f"± {ours_error:.2f} nats, k = {KS[-1]}, {len(x)} random test images)")

# %% [markdown]
# ### The published number, beaten on a laptop
#
# Burda et al.'s VAE trained for 3,280 epochs. How close does a VAE of the same kind get in **30 CPU-minutes**?
# Same kind means: one stochastic layer, a diagonal Gaussian q(z|x), the N(0, I) prior, trained on the plain
# ELBO (k = 1); the networks around it are ours to choose. `benchmarks/frontier.py` trained one (784-512-512-50,
# batches of 128, one-cycle learning rate, KL warm-up over 10 epochs, the decoder started at the mean image)
# and estimated −log p(x) with k = 5000 on **all** 10,000 test images. It also trained the same networks on the
# IWAE's bound L₅ instead of the ELBO (`--train-k 5`) for the same CPU time, for Burda et al.'s other row. Each
# took about an hour of CPU time to train and evaluate, so this cell reads the stored results rather than
# rerunning them; the commands are printed with them.
#
# > **Predict, then run.** The default model trains in the CPU time of the first row below (under a minute of
# > wall time on 2 cores). How many nats does half an hour of CPU time buy, and is it enough to pass Burda et
# > al.'s 86.76?

# %%
import json
from pathlib import Path

RESULTS = Path(vae_lite.__file__).resolve().parent.parent / "benchmarks" / "results"  # in the clone
BEST = "best-h512x2-l50-b128-one150-w10-mean"
BEST_ON_L5 = "iwae5-h512x2-l50-b128-one58-mean"  # the same networks on the IWAE bound L_5, the same CPU time
BURDA = {"VAE, k = 1 (3,280 epochs)": 86.76, "IWAE, k = 50 (3,280 epochs)": 84.78}  # Burda et al. 2015, Table 1
frontier = json.loads((RESULTS / "frontier.json").read_text())
best, best_on_l5 = frontier[BEST], frontier[BEST_ON_L5]
default = json.loads((RESULTS / "quality.json").read_text())["mnist-default"]
full, full_on_l5 = best["full_evaluation"], best_on_l5["full_evaluation"]
rows = [("ours: the default model", default["train_cpu_seconds"], default["test_neg_elbo"], default["iw_nll"],
         default["iw_nll_std_error"], default["iw_test_images"]),
        ("ours: benchmarks/results/mnist_best.pt", best["train_cpu_seconds"], full["neg_elbo"], full["iw_nll"],
         full["iw_nll_std_error"], full["test_images"]),
        ("ours: the same networks on L_5 (IWAE)", best_on_l5["train_cpu_seconds"], full_on_l5["neg_elbo"],
         full_on_l5["iw_nll"], full_on_l5["iw_nll_std_error"], full_on_l5["test_images"])]
print(f"{'':40s} {'training':>14s} {'-ELBO':>7s} {'IW NLL, k = 5000':>17s} {'test images':>12s}")
for name, cpu, neg_elbo, nll, error, images in rows:
    print(f"{name:40s} {cpu / 60:7.1f} CPU-min {neg_elbo:7.2f} {nll:9.2f} ± {error:.2f} {images:12,d}")
for name, nll in BURDA.items():
    print(f"{'Burda et al. 2015, ' + name:40s} {'':>14s} {'':>7s} {nll:9.2f}")
margin = BURDA["VAE, k = 1 (3,280 epochs)"] - full["iw_nll"]
print(f"the 30-minute model is {abs(margin):.2f} nats {'below' if margin > 0 else 'above'} Burda et al.'s VAE "
      f"({abs(margin) / full['iw_nll_std_error']:.1f} standard errors) and "
      f"{full['iw_nll'] - BURDA['IWAE, k = 50 (3,280 epochs)']:.2f} nats above their IWAE")
print(f"on the first 1,000 test images alone the same model scores {full['iw_first_1000']:.2f}: "
      f"{full['iw_nll'] - full['iw_first_1000']:.2f} nats easier than the whole test set")
# both estimates used the same test images and the same noise: compare the two models image by image
log_px = {name: torch.cat(torch.load(RESULTS / f"{name}.iw.pt", weights_only=True)["chunks"])
          for name in (BEST, BEST_ON_L5)}
gap = log_px[BEST] - log_px[BEST_ON_L5]  # (10000,) nats per image by which the VAE explains it better
gap_error = gap.std().item() / len(gap) ** 0.5
cost_per_epoch = {name: run["train_cpu_seconds"] / run["epochs_trained"]
                  for name, run in [(BEST, best), (BEST_ON_L5, best_on_l5)]}
print(f"an epoch on L_5 costs {cost_per_epoch[BEST_ON_L5] / cost_per_epoch[BEST]:.1f} times an ELBO epoch, so it "
      f"had {best_on_l5['epochs_trained']} epochs to the VAE's {best['epochs_trained']}; image by image the VAE's "
      f"log p(x) is {gap.mean():.2f} ± {gap_error:.2f} nats higher")
print("made by:", best["command"], "then", full["command"])
print("and:", best_on_l5["command"], "then", full_on_l5["command"])
assert full["test_images"] == 10_000 and full["k"] == 5000, "the comparison needs k = 5000 on all 10,000 test images"
assert best["train_cpu_seconds"] <= 30 * 60, "the model should train in at most 30 CPU-minutes"
assert margin > 0, "the heading says the published VAE number is beaten: it should be below 86.76"
assert full["iw_nll"] > BURDA["IWAE, k = 50 (3,280 epochs)"], "the text below says Burda et al.'s IWAE is still ahead"
assert full_on_l5["test_images"] == 10_000 and full_on_l5["k"] == 5000
assert abs(best_on_l5["train_cpu_seconds"] / best["train_cpu_seconds"] - 1) < 0.05, \
    "the text below says both trained for the same CPU time"
assert cost_per_epoch[BEST_ON_L5] > 2 * cost_per_epoch[BEST], "the text below says an L_5 epoch costs over twice as much"
assert best["epochs_trained"] > best_on_l5["epochs_trained"] and gap.mean() > 3 * gap_error, \
    "the text below says that in half an hour the VAE's extra epochs beat the tighter bound"

# %% [markdown]
# *Figure: ten samples (decoded z ~ N(0, I)) from the default model, and ten from the 30-minute model.*

# %%
best_model = vae_lite.load(RESULTS / "mnist_best.pt")
default_mnist = vae_lite.load(pretrained.CHECKPOINT)
generator = torch.Generator().manual_seed(0)
plots.show_rows({"default model (1 minute)": default_mnist.sample(10, generator=generator),
                 "mnist_best.pt (30 CPU-minutes)": best_model.sample(10, generator=generator)}, ncols=10, size=0.9);

# %% [markdown]
# Both rows are MNIST models, whatever data set this notebook runs on. The IW numbers are estimates of −log p(x)
# on the same fixed binarization of the test set. A subset of the test images moves them by more than the margin
# over Burda et al. (the first 1,000 images are the easier ones, as printed), which is why the table says which
# images were used.
#
# Burda et al.'s IWAE (k = 50 samples in training) is still ahead: training on the tighter bound L₅₀ is what
# bought them those last nats, over 3,280 epochs. Half an hour does not buy them that way. The third row is our
# networks trained on L₅ for the same CPU time: each step decodes 5 samples of z per image, so an epoch costs over
# twice as much and fewer epochs fit. Image by image, the VAE with its extra epochs explains the test digits
# better (printed above): at this budget, more epochs beat a tighter bound, and 84.78 would take both. Notebook 10
# trains a VAE and an IWAE for the same number of epochs, where the bound wins.

# %% [markdown]
# ### β: rate against distortion
#
# Train the same VAE with different KL weights β (`vae_lite.fit(..., beta=β)`), on part of the training set for a
# few epochs. For each model, the **rate** is the KL (nats of information the code carries about x) and the
# **distortion** is the reconstruction error. β = 1 is the ELBO; β < 1 buys a lower distortion with a higher rate;
# β > 1 the reverse, until the code carries nothing: **posterior collapse**.
#
# Two counts of the dimensions a model still uses, with thresholds that agree:
# - **active units** (Burda et al.): the encoder mean moves with x, Var_x(E[z_d|x]) > 0.01;
# - **dimensions that cost more than 0.005 nats of KL**. Since KL_d ≥ ½ E_x[μ_d²] ≥ ½ Var_x(μ_d), every active unit
#   costs more than ½ × 0.01 = 0.005 nats: this count is never below the first. It is above it where a dimension
#   costs KL without its mean moving (σ away from 1 for every x), which buys no information.
#
# **Predict, then run.** At β = 16, how many nats will the code carry, and how many dimensions will still be active?

# %%
BETAS = [0.25, 1, 4, 16]
KL_THRESHOLD = 0.005  # nats: ½ × Burda's 0.01, the least KL an active unit can have
small = data.subset(train=3000 if QUICK else 20000, test=2000)
epochs = max(1, round((150 if QUICK else 450) / math.ceil(len(small.train) / 128)))
x_small = vae_lite.binarized_test_set(small)
results = []
for beta in BETAS:
    torch.manual_seed(0)
    beta_model = vae_lite.VAE(small.image_shape)
    vae_lite.fit(beta_model, small, epochs=epochs, beta=beta, progress=False)
    scores = vae_lite.evaluate(beta_model, x_small)
    active, activity = latent.active_units(beta_model, small)
    kl = latent.kl_per_dimension(beta_model, small)
    n = len(small.test)  # torch's var divides by n - 1, so the bound is ½ × 0.01 × (n - 1) / n
    with torch.inference_mode():
        samples = beta_model.sample(10, generator=torch.Generator().manual_seed(0))
    results.append(dict(beta=beta, rate=scores["kl"], distortion=-scores["reconstruction"], active=active,
                        above=int((kl > KL_THRESHOLD * (n - 1) / n).sum()), active_kl=kl[activity > 0.01].sum().item(),
                        samples=samples))
    r = results[-1]
    print(f"β = {beta:4g}: rate {r['rate']:5.1f} nats, distortion {r['distortion']:6.1f} nats; "
          f"active units {active:2d}, carrying {r['active_kl']:5.2f} nats; "
          f"dimensions above {KL_THRESHOLD} nats: {r['above']:2d} (of {beta_model.latent_dim})")
    assert r["above"] >= active, "every active unit costs more than 0.005 nats: the two counts must agree"

# %% [markdown]
# *Figure: left, each β's model as a point of rate (KL) against distortion (reconstruction error), with grey lines
# of equal negative ELBO; right, the number of latent dimensions in use against β, counted both ways.*

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
plots.plot_rate_distortion([r["rate"] for r in results], [r["distortion"] for r in results],
                           [f"β={r['beta']:g}" for r in results], ax=left, title="rate against distortion")
plots.plot_units_by_beta(BETAS, [r["active"] for r in results], [r["above"] for r in results],
                         latent_dim=beta_model.latent_dim, kl_threshold=KL_THRESHOLD, ax=right)
plt.show()
rates = [r["rate"] for r in results]
distortions = [r["distortion"] for r in results]
last = results[-1]
print(f"at β = {last['beta']:g}: {last['active']} active units carry {last['active_kl']:.2f} nats together, "
      f"{last['active_kl'] / max(1, last['active']):.3f} nats each on average")
assert all(b < a for a, b in zip(rates, rates[1:])), "a larger beta should give a lower rate (KL)"
assert distortions[-1] > distortions[0], "a larger beta should give a higher distortion"
assert results[-1]["active"] < results[0]["active"], "fewer dimensions should be active as beta grows"
assert results[-1]["above"] < results[0]["above"], "fewer dimensions should cost KL as beta grows"

# %% [markdown]
# "Active" means the mean moves at all, not that the dimension carries much: the cell above says how little the
# active units that remain at the largest β carry. Both counts are lower at the largest β than at the smallest (the
# printed lines give every count).
#
# *Figure: four rows of ten decoded prior samples, one row per β.*

# %%
plots.show_rows({f"β = {r['beta']:g}": r["samples"] for r in results}, ncols=10, size=0.9)
plt.show()

# %% [markdown]
# ## Common mistakes
#
# > **Common mistake.** Writing the bound as `log(x) ≥ ELBO`. **Wrong:** log(x) is the log of an image.
# > **Right:** log **p(x)** ≥ ELBO: the left side is the log-evidence, the log-probability the model gives
# > the image. The estimates above are estimates of log p(x); every one with k > 1 sits above the ELBO.
#
# > **Common mistake.** Comparing ELBOs measured on differently binarized data. **Wrong:** putting the
# > "loss" printed by a script that scores grey-level pixels with binary cross-entropy next to a negative
# > ELBO on binary images. **Right:** compare numbers only on the same data, binarized the same way. The same
# > model, scored both ways:

# %%
torch.manual_seed(0)
grey = vae_lite.evaluate(model, data.test)
difference = -grey["elbo"] - (-test["elbo"])
print(f"negative ELBO on binarized test images:  {-test['elbo']:.1f} nats   (a bound on -log p(x))")
print(f"the same formula on grey-level images:   {-grey['elbo']:.1f} nats   (not a likelihood: x is not binary)")
print(f"the grey-level score is {abs(difference):.1f} nats {'higher' if difference > 0 else 'lower'}, "
      f"for the same model and the same test images")
# both scores drew the same z (torch.manual_seed(0) before each), so on the same images they would be equal
assert abs(difference) > 1e-3 or data.name not in ("mnist", "digits"), \
    "scoring grey-level and binarized images should give different numbers: is the test set binarized (binarized_test_set)?"

# %% [markdown]
# ## Exercises
#
# **The importance-weighted estimate's last step.** Given the log weights log p(x|zᵢ) + log p(zᵢ) − log q(zᵢ|x)
# of k samples for N images (a k × N tensor), complete `log_mean_exp` so it returns log (1/k Σᵢ exp(wᵢ)) per
# image. The log weights of real images are around −100 or lower, where `exp` underflows to 0: subtract the
# largest weight first (or find the torch function that does it for you).

# %%
# NBVAL_CHECK_OUTPUT
def log_mean_exp(log_weights):
    raise NotImplementedError  # your code here


vae_lite.check.log_mean_exp(log_mean_exp)

# %% jupyter={"source_hidden": true} tags=["solution"]
# NBVAL_CHECK_OUTPUT
# Solution: log-sum-exp over the k samples (stable: torch subtracts the maximum), minus log k.
def log_mean_exp(log_weights):
    return torch.logsumexp(log_weights, dim=0) - math.log(len(log_weights))


assert vae_lite.check.log_mean_exp(log_mean_exp), "the solution should pass every case"

# %% [markdown]
# More to try:
#
# 1. Rerun the importance-weighted cell with k = 5000 on 100 images. How much does it gain over k = 1000?
# 2. Make the decoder stronger (`decoder_hidden=[512, 512]`, or `arch="conv"`) and train at β = 1. Do more or fewer
#    latent dimensions stay active? (A strong decoder can model x without z, another road to collapse.)
# 3. Where on the rate–distortion curve would you pick a model to *generate* digits, and where to *compress* them?
#
# ## Summary
# - The ELBO is a lower bound on log p(x); the importance-weighted bound tightens with k, with diminishing
#   gains; the gap measures how far q(z|x) is from the true posterior.
# - Compare numbers on the same images, binarized the same way; a published number differs also in architecture,
#   training length and estimator: say which.
# - β trades rate against distortion; a large β switches latent dimensions off (posterior collapse).
#
# Next: [09 The paper, reproduced](09_paper_reproduced.ipynb).
