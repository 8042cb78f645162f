# %% [markdown]
# # 08 How good is it?
#
# Previous: [07 The latent space](07_latent_space.ipynb) · Next: [09 The paper, reproduced](09_paper_reproduced.ipynb)
#
# The ELBO is a lower bound on log p(x). How far below? How do our numbers compare with published ones, and what
# does the KL weight β trade?
#
# **Learning goals**
# - write the importance-weighted estimate of log p(x) and see it tighten as the number of samples k grows;
# - see from the weights why k = 5000 is not log p(x), and say what else differs in a published number;
# - read β as a trade-off between rate (KL) and distortion, and see latent dimensions switch off as β grows.

# %% [markdown] tags=["badges"]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-lite/vae_lite/blob/main/notebooks/08_how_good.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/vae-lite/vae_lite/main?labpath=notebooks%2F08_how_good.ipynb)

# %% jupyter={"source_hidden": true} tags=["bootstrap"]
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
import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import vae_lite
import vae_lite.check
from vae_lite import latent, plots, pretrained

QUICK = vae_lite.setup_notebook()
RESULTS = Path(vae_lite.__file__).resolve().parent.parent / "results"  # stored runs, in the clone

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
x = x_test[torch.randperm(len(x_test), generator=torch.Generator().manual_seed(0))[:IW_IMAGES]]  # random test images
print(data)

# %% [markdown]
# ## Model
#
# The default VAE of notebook 07 (the package's pretrained model), trained with notebook 05's recipe (printed).

# %%
model = pretrained.default_model(data)
print(f"model: {model.arch.upper()}, hidden layers {list(model.encoder_hidden)} (encoder) and "
      f"{list(model.decoder_hidden)} (decoder), {type(model.decoder.net[1]).__name__}, {model.latent_dim} latent dimensions")
print("trained with:", ", ".join(f"KL warm-up {value} epochs" if key == "warmup" else f"{key} {value}"
                                 for key, value in pretrained.TRAINING.items()))
torch.manual_seed(0)
test = vae_lite.evaluate(model, x_test)
print(f"test negative ELBO on all {len(x_test)} test images: {-test['elbo']:.2f} nats per image")

# %% [markdown]
# ## Experiments
#
# ### The importance-weighted bound
#
# With k samples z₁…z_k from q(z|x) (Burda et al., 2016):
#
# $$\log p(x) \;\ge\; \mathbb{E}_{z_1\dots z_k\sim q(z|x)}\Big[\log \frac1k \sum_{i=1}^k \frac{p(x|z_i)\,p(z_i)}{q(z_i|x)}\Big] \;=\; \mathcal{L}_k,
# \qquad \mathcal{L}_1 = \mathrm{ELBO} \le \mathcal{L}_{10} \le \dots \to \log p(x).$$
#
# The gap between the ELBO and log p(x) is KL(q(z|x) ‖ p(z|x)): how far the encoder is from the true posterior.
# It differs by model, so the ELBO can misstate how two models compare (Optional: Half an hour of CPU time).

# %% [markdown]
# Each term of the sum is an importance weight wᵢ, with mean E_q[w] = ∫ q(z|x) p(x|z)p(z)/q(z|x) dz = p(x).
# The nearer q(z|x) is to p(z|x), the less the wᵢ vary (each is p(x) if q = p(z|x)). The log of their mean is
# biased low (Jensen): 𝓛_k = E[log meanᵢ wᵢ] ≤ log E[meanᵢ wᵢ] = log p(x). The code computes 𝓛̂_k, the log of the
# mean of one draw of k weights: a lower bound only in expectation.

# %% [markdown]
# **Exercise 1 (10 min).** Write the estimator. For N images, `iw_estimate` gets k samples `z` (k × N × d) from
# q(z|x) = N(μ, diag σ²), its `mu` and `logvar` = log σ² (N × d), and `log_px_given_z` (k × N). Return one estimate
# per image: log wᵢ = log p(x|zᵢ) + log p(zᵢ) − log q(zᵢ|x), each log density summed over the d dimensions
# (`torch.distributions.Normal(loc, scale).log_prob`; scale is σ), then the log of the mean of the wᵢ in log space
# (`torch.logsumexp`): many MNIST log wᵢ fall below −104, where float32's exp is 0.

# %% tags=["nbval-check-output"]
def iw_estimate(log_px_given_z, z, mu, logvar):
    raise NotImplementedError  # your code here


vae_lite.check.importance_weighted_estimate(iw_estimate);

# %% jupyter={"source_hidden": true} tags=["nbval-check-output", "solution"]
# Solution: the log weights, summed over the latent dimensions, then a stable log-mean-exp over the k samples.
def iw_estimate(log_px_given_z, z, mu, logvar):
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(dim=-1)  # (k, N)
    log_q = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(dim=-1)
    log_weights = log_px_given_z + log_prior - log_q
    return torch.logsumexp(log_weights, dim=0) - math.log(len(log_weights))


assert vae_lite.check.importance_weighted_estimate(iw_estimate), "the solution should pass every case"

# %% [markdown]
# From here on the cells use `vae_lite.iw_log_likelihood` (Optional: Your estimator on real images).
#
# **Predict, then run.** With k = 1 the bound is the ELBO. How much will k = 10 add: a hundredth of a nat, a tenth,
# or several nats? And k = 1000 over k = 100? Each gain is paired, image by image, on the **same images**.

# %%
torch.manual_seed(0)
with torch.inference_mode():  # 100 samples per image: a precise ELBO; 100 images at a time, to save memory
    elbo_per_image = torch.cat([vae_lite.elbo(model, x[i:i + 100], samples=100).elbo for i in range(0, len(x), 100)])
iw_per_image, iw, gap, gap_error = {}, {}, {}, {}
for k in KS:
    iw_per_image[k] = per_image = vae_lite.iw_log_likelihood(model, x, k=k)
    difference = per_image - elbo_per_image  # the same images: a paired difference
    iw[k], gap[k] = per_image.mean().item(), difference.mean().item()
    gap_error[k] = (difference.std() / math.sqrt(len(x))).item()
    print(f"k = {k:5d}: importance-weighted bound {iw[k]:8.2f} nats;  bound − ELBO = {gap[k]:+.2f} ± {gap_error[k]:.2f}")
print(f"ELBO (100 samples per image):     {elbo_per_image.mean():8.2f} nats, on the same {len(x)} random test images")
assert abs(gap[1]) < 4 * gap_error[1] + 0.05, "with k = 1 the bound is the ELBO, up to noise: is the ELBO " \
    "reconstruction MINUS the KL, and are log_weights log p(x|z) + log p(z) − log q(z|x), with σ (not σ²) in q?"
values = [iw[k] for k in KS]
assert all(b > a for a, b in zip(values, values[1:])), "the bound should tighten (grow) as k grows"

# %% [markdown]
# At k = 1 the bound and the ELBO differ only by sampling noise; each larger k sits higher.

# %%
gains = [b - a for a, b in zip(values, values[1:])]
print("gain per tenfold k:", ", ".join(f"{g:.2f}" for g in gains), "nats")
assert all(b < a for a, b in zip(gains, gains[1:])), "the prose: here each tenfold of k gains less (typical, not a law)"

# %% [markdown]
# Each tenfold of k buys less, but the gains shrink slowly. Why? The **effective sample size** of the k weights,
# ESS = (Σwᵢ)²/Σwᵢ², is k if all weights are equal and 1 if one weight holds everything.

# %%
with torch.inference_mode():  # the log weights of k = KS[-1] draws, for the first 100 images, 20 at a time
    log_w = torch.cat([vae_lite.log_weights(model, x[i:i + 20], KS[-1]) for i in range(0, 100, 20)], dim=1)  # (k, 100)
ess = lambda log_w: (2 * log_w.logsumexp(dim=0) - (2 * log_w).logsumexp(dim=0)).exp()  # (Σw)² / Σw², in log space
ess_median = {k: ess(log_w[:k]).median().item() for k in KS[1:]}  # the first k of the draws
print("median ESS over the first 100 images, one draw of the weights, roughly:",
      ", ".join(f"{ess_median[k]:.0f} of k = {k}" for k in KS[1:]))

# %% jupyter={"source_hidden": true}
medians = list(ess_median.values())
assert data.name != "mnist" or all(b < 3 * a for a, b in zip(medians, medians[1:])), \
    "the prose: a tenfold k should multiply the median ESS by far less than ten (here under three)"
assert data.name != "mnist" or (log_w < -104).float().mean() > 0.1, \
    "Exercise 1's text: many log weights fall below −104, where float32's exp is 0"

# %% [markdown]
# A handful of weights carry the estimate, and a tenfold k does not triple the handful: rarer, larger weights keep
# turning up. So k = 5000, the papers' convention, is not convergence.
#
# ### Next to published numbers
#
# Burda et al. (ICLR 2016 version, Table 1) report a VAE's IW NLL = −𝓛_k on MNIST (lower is better), with k = 5000
# on all 10,000 test images; `benchmarks/quality.py` scored our model the same way.

# %%
BURDA_VAE_NLL = 86.76  # Burda et al., ICLR 2016 version, Table 1: VAE, one stochastic layer, trained on the ELBO; k = 5000
per_image_nll = -iw_per_image[KS[-1]]
ours_iw, ours_error = per_image_nll.mean().item(), (per_image_nll.std() / math.sqrt(len(x))).item()
if data.name == "mnist":
    full = json.loads((RESULTS / "quality.json").read_text())["mnist-default"]  # this model: k = 5000, every image
    assert full["same_weights_as_shipped_checkpoint"] and full["iw_k"] == 5000 and full["iw_test_images"] == 10_000
    print(f"{f'ours: IW NLL, k = {KS[-1]}, the same {len(x)} random test images':58s} {ours_iw:6.2f} ± {ours_error:.2f}")
    print(f"{'ours: IW NLL, k = 5000, all 10,000 (benchmarks/quality.py)':58s} {full['iw_nll']:6.2f} "
          f"± {full['iw_nll_std_error']:.2f}")
    print(f"{'Burda et al. 2016 VAE: IW NLL, k = 5000, all 10,000':58s} {BURDA_VAE_NLL:6.2f}  (nats per image)")
    behind = full["iw_nll"] - BURDA_VAE_NLL
    print(f"ours is {behind:.2f} nats above theirs")
else:
    print(f"the published numbers are for MNIST; this is {data.name}: no comparison (IW NLL here {ours_iw:.2f} "
          f"± {ours_error:.2f} nats, k = {KS[-1]}, {len(x)} random test images)")

# %% jupyter={"source_hidden": true}
assert data.name != "mnist" or QUICK or abs(ours_iw - full["iw_nll"]) < ours_error, \
    "the prose: the two rows of ours agree within the printed standard errors"
assert data.name != "mnist" or ours_error > 5 * max(gap_error.values()), "the prose: the level's ± is far wider"

# %% [markdown]
# **Ours trails theirs by 5.25 nats** at the same k. Both are lower bounds: part of the gap could be what k = 5000
# misses, and no larger k shows how much. A better proposal than the encoder shows some: in notebook 10 (part 4),
# on the first 40 test images of this model, its estimates lie about half a nat (± a tenth) above the encoder's,
# even at k = 40,000. So on those images our k = 5000 misses at least that (Optional: How far below log p(x) is
# k = 5000?).

# %% [markdown]
# Much else differs:
#
# | | ours | Burda et al. |
# |---|---|---|
# | networks | the Model section's (printed) | 2 × 200 tanh units each way, 50 latent dimensions |
# | training | notebook 05's recipe (printed), 60,000 images | 3,280 epochs, batches of 20, 59,600 images |
# | binarization | a new draw each epoch; the test set once | the same; the test set once, another draw |
#
# Our recipe was picked on test images (Optional: Did the recipe favour β = 1?). Our ± covers test images, not
# seeds: it is wide because log p(x) varies between images (paired gains cancel that). Our two rows, with other k
# and images, agree within it.

# %% [markdown]
# > **Common mistake.** Putting a number on grey-level pixels (a script's binary cross-entropy "loss"), or on pixels
# > thresholded at ½ (the TensorFlow CVAE tutorial's `np.where(images > .5, 1.0, 0.0)`), next to a −ELBO on pixels
# > binarized at random (Burda et al.'s, ours). **Right:** compare numbers only on the same images, binarized the
# > same way. Our model, scored three ways:

# %%
scores = {"binarized at random (as above)": test}
versions = {"grey levels": data.test, "thresholded at ½": (data.test > 0.5).float()}
for name, images in versions.items():
    torch.manual_seed(0)  # the same noise ε as the Model section's score
    scores[name] = vae_lite.evaluate(model, images)
for name, score in scores.items():
    print(f"−ELBO on the test images, {name:31s} {-score['elbo']:6.1f} nats")
grey, thresholded = scores["grey levels"], scores["thresholded at ½"]

# %% jupyter={"source_hidden": true}
grey_minus_binarized = -grey["elbo"] - (-test["elbo"])  # the same ε: on the same images, equal scores
nats = sorted(-score["elbo"] for score in scores.values())
assert data.name != "mnist" or min(b - a for a, b in zip(nats, nats[1:])) > 5, \
    "the prose: the three scores are over five nats apart"
assert data.name != "mnist" or -thresholded["elbo"] < BURDA_VAE_NLL < -test["elbo"], \
    "the prose: thresholded, our −ELBO is below Burda et al.'s IW NLL; binarized at random, above"

# %% [markdown]
# One model, three numbers over five nats apart. Thresholding removes the stray pixels of a random draw, so the
# images are easier: there our small model's −ELBO is below Burda et al.'s IW NLL. It is not a better model.

# %% [markdown]
# ### β: rate against distortion
#
# Weight the KL by β and minimise D + βR (the β-VAE; Higgins et al., 2017). The **distortion** D = −E_q[log p(x|z)]
# is the reconstruction error. The **rate** R = KL(q(z|x) ‖ p(z)), averaged over the data, is what the code
# carries: an upper bound on the mutual information I(x; z), the nats z tells about x (Alemi et al., 2018).
# R + D is the −ELBO: β = 1 is the VAE.
#
# Three seeds per β, each the default recipe (`benchmarks/beta_sweep.py`). A latent dimension is an **active
# unit** if Var_x(E[z_d|x]) > 0.01 (Burda et al.'s threshold, on the test images).
#
# **Predict, then run.** At β = 16, how many nats will the code carry, and how many dimensions will still be active?

# %% tags=["nbval-check-output"]
sweep = json.loads((RESULTS / "beta_sweep.json").read_text())
runs = list(sweep["runs"].values())
for run in runs:
    run["active"] = int((torch.tensor(run["activity"]) > 0.01).sum())  # Var_x(μ_d) over the test images
BETAS = sorted({run["beta"] for run in runs})
column = lambda key: [[run[key] for run in runs if run["beta"] == beta] for beta in BETAS]  # per β, over seeds
mean, sd = lambda v: sum(v) / len(v), lambda v: torch.tensor(v, dtype=torch.float64).std().item() if len(v) > 1 else 0
fmt = lambda values, digits=1: f"{mean(values):6.{digits}f} ± {sd(values):3.1f}"
print(f"{sweep['dataset']} models, {sweep['test_images']} test images; mean ± sd over seeds {sorted({r['seed'] for r in runs})}")
print(f"{'β':>5} {'rate R':>12} {'distortion D':>12} {'−ELBO = R + D':>14}   active units")
for beta, *values in zip(BETAS, *map(column, ("rate", "distortion", "neg_elbo", "active"))):
    print(f"{beta:5g} {fmt(values[0])} {fmt(values[1])} {fmt(values[2], 2):>14}   {', '.join(map(str, values[3]))}")
print(f"D₀ (a decoder that ignores z: the mean image) = {sweep['mean_image_distortion']:.1f} nats")

# %% [markdown]
# As β grows the code carries less, towards nothing (**posterior collapse**). A decoder that ignores z gives every
# image the same pixel probabilities: at best the mean of the images scored. D₀ uses the mean training image,
# close to that best.

# %% [markdown]
# *Figure: left, distortion against rate, a point per β (the mean over seeds, whose sd is under half a nat), grey
# lines of equal −ELBO, D₀ on the distortion axis; right, active units against β (a circle per seed; equal counts
# overlap).*

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 6.2), width_ratios=(3, 2))
plots.plot_rate_distortion(column("rate"), column("distortion"), [f"β={beta:g}" for beta in BETAS], ax=left,
                           zero_rate=sweep["mean_image_distortion"], title="distortion against rate")
plots.plot_units_by_beta(BETAS, column("active"), latent_dim=len(runs[0]["activity"]), ax=right)
next(line for line in left.lines if line.get_label() == "each seed").remove()  # hidden under the means anyway
left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15))  # below the axes, where it hides no line
left.set_ylim(top=1.05 * sweep["mean_image_distortion"])  # no room needed above the data
for label in (t for t in left.texts if t.get_text().startswith("−ELBO")):  # the −ELBO labels:
    label.set(rotation=-45, transform_rotates_text=True)  # −45° in data units, along the line
plt.show()

# %% jupyter={"source_hidden": true}
rates, distortions, active, totals = ([mean(v) for v in column(key)] for key in ("rate", "distortion", "active", "neg_elbo"))
assert max(map(sd, column("rate") + column("distortion"))) < 0.5, "the caption: over seeds, the sd is under half a nat"
assert all(b < a for a, b in zip(rates, rates[1:])) and all(b > a for a, b in zip(distortions, distortions[1:])), \
    "a larger β should give a lower rate (KL) and a higher distortion"
assert all(b < a for a, b in zip(active, active[1:])), "fewer dimensions should be active at each larger β"
assert max(column("active")[-1]) > min(column("active")[-1]), "the text: at the largest β the seeds differ in active units"
assert BETAS[totals.index(min(totals))] == 1, "the text below says β = 1 has the best ELBO of the sweep"
lead = sorted(totals)[1] - min(totals)  # β = 1's −ELBO below the next best β's (means over seeds)
print(f"β = 1's −ELBO is {lead:.2f} nats below the next best β's (means over seeds)")

# %% [markdown]
# Left: a larger β buys a lower rate with more distortion. The dashed line marks the least −ELBO: β = 1's, the only
# β trained on the ELBO itself, about 4 nats ahead of the next (printed). The recipe was tuned at β = 1, so the βs
# are not quite like for like (Optional: Did the recipe favour β = 1?).
#
# Right: dimensions switch off as β grows (partial collapse); at the largest β the seeds differ in active units.

# %% [markdown]
# ## Summary
# - 𝓛_k tightens with k by ever smaller gains, carried by a few weights (a small ESS): k = 5000 is a convention,
#   not log p(x).
# - Compare numbers on the same images, binarized the same way; say what else differs.
# - β trades rate against distortion. In this sweep β = 1 gives the best test ELBO; a large β switches dimensions off.
#
# Next: [09 The paper, reproduced](09_paper_reproduced.ipynb).

# %% [markdown]
# ## Optional: why the curve bends, the recipe and β = 1, β's samples, your estimator, the bound drawn, which weights count, one image's draws, why 𝓛_k grows, why Var(w) is infinite, the tail law and k = 5000, exercises (posterior collapse), grey-level images, larger models

# %% [markdown]
# ### Why the rate–distortion curve bends
#
# Each model minimises D + βR. If it found the best point for its β, then between two neighbouring models a nat of
# rate trades for between β₁ and β₂ nats of distortion: model 1 is no worse than model 2 at β₁
# (D₁ + β₁R₁ ≤ D₂ + β₁R₂), and model 2 no worse than model 1 at β₂. So the slope steepens as β grows: the curve
# bends. Measured on the test images, the sweep's models pass that test:

# %% tags=["nbval-check-output"]
exchange = [(d2 - d1) / (r1 - r2) for r1, r2, d1, d2 in zip(rates, rates[1:], distortions, distortions[1:])]
for b1, b2, rate in zip(BETAS, BETAS[1:], exchange):  # exchange: (D₂ − D₁)/(R₁ − R₂), from the sweep's means
    print(f"β = {b1:g} → {b2:g}: {rate:.2f} nats of distortion per nat of rate")
assert all(b1 <= rate <= b2 for b1, b2, rate in zip(BETAS, BETAS[1:], exchange)), \
    "each model should be the best of the sweep at its own β: the exchange rate between neighbours lies between their βs"

# %% [markdown]
# ### Did the recipe favour β = 1?
#
# Every model of the sweep uses notebook 05's recipe, and that recipe was chosen at β = 1.
# `benchmarks/recipe_screen.py` trained 26 runs, each varying one or two settings (layer sizes, learning rate,
# epochs, warm-up, batch size and more; a few are repeats), on all 60,000 training images, and scored each by its
# −ELBO on the 10,000 test images. The recipe kept is notebook 05's. So the test set had a say, and the other βs ran with a
# recipe tuned for β = 1. A later repeat of the screen (18 runs) trained on 50,000 training images and scored the
# other 10,000, never the test set. How far can a recipe move the −ELBO, next to β = 1's lead?

# %%
screen = {split: [run[f"{split}_neg_elbo"] for run in json.loads((RESULTS / name).read_text()).values()]  # β = 1 runs
          for split, name in [("test", "recipe_screen.json"), ("validation", "recipe_screen_validation.json")]}
span = {split: max(v) - min(v) for split, v in screen.items()}  # the worst run's −ELBO above the best's
for split, images in [("test", "the test images"), ("validation", "held-out training images")]:
    print(f"{len(screen[split])} runs scored on {images}: −ELBO {min(screen[split]):.2f} to {max(screen[split]):.2f} "
          f"nats, a span of {span[split]:.1f}")
print(f"β = 1's lead over the next best β: {lead:.1f} nats")
assert len(screen["test"]) == 26 and len(screen["validation"]) == 18, "the text: 26 runs, repeated with 18"
assert 3 * max(span.values()) < lead, "the text: each screen spans under a third of β = 1's lead"

# %% [markdown]
# β = 1 is the only β whose objective is the −ELBO, so it should win on the −ELBO; the question is only whether the
# tuning inflated its lead. In each screen the recipes land within 1.2 nats of each other, under a third of the
# lead. The screens ran at β = 1 alone, so assume that a recipe moves the −ELBO about as much at the other βs: then
# a recipe tuned for another β would not catch up.

# %% [markdown]
# ### What β does to samples and reconstructions
#
# *Figure: top, decoded prior samples of the seed-0 models, the same ten z ~ N(0, I) for every β; bottom, ten test
# images and their reconstructions (decoded encoder means) by the same models.*

# %%
shown = torch.load(RESULTS / "beta_sweep_images.pt", weights_only=True)
SHOWN_BETAS = [0.25, 1, 4, 16]
pixels = lambda images: images.float() / 255  # stored as 8-bit
plots.show_rows({f"samples, β = {beta:g}": pixels(shown["samples"][f"{beta:g}"]) for beta in SHOWN_BETAS},
                ncols=10, size=0.9)
plt.show()
reconstructions = {f"decoded μ, β = {beta:g}": pixels(shown["reconstructions"][f"{beta:g}"])
                   for beta in SHOWN_BETAS}
plots.show_rows({"test images": pixels(shown["test_images"]), **reconstructions}, ncols=10, size=0.9)
plt.show()

# %% [markdown]
# At β = 0.25 reconstructions are almost exact but samples are stroke fragments: with a cheap KL the codes need not
# fill N(0, I). At β = 1 some samples look like digits, others are tangles; at β = 4 samples blur and a few
# reconstructions lose their digit. At β = 16 samples and most reconstructions fall back on a few prototypes, often
# another digit: heading for a model that ignores z, yet D stays well below D₀.

# %% jupyter={"source_hidden": true}
assert distortions[-1] < sweep["mean_image_distortion"] - 10, "the text: at β = 16, D is still well below D₀"

# %% [markdown]
# ### The shipped model as one more seed
#
# The sweep's β = 1 models are the default recipe retrained on another machine: even seed 0 gives other weights
# (the sweep records it), but the shipped model should look like one more seed. Its active-unit count may sit one
# or two outside the retrains' range: at β = 1 the count moves by a few with the threshold (Exercise 5).

# %%
seed_0 = next(run for run in runs if run["beta"] == 1 and run["seed"] == 0)
if data.name == "mnist":  # the sweep's models are MNIST models: count on its full test set
    mnist_full = data if len(data.test) == 10_000 else vae_lite.load_dataset("mnist")  # quick mode kept 1,000 test images
    live, activity = latent.active_units(model, vae_lite.binarized_test_set(mnist_full))
    counts = column("active")[BETAS.index(1)]
    print(f"active units: the shipped default model {live}; the β = 1 retrains {', '.join(map(str, counts))}")
    between = sorted(round(v, 4) for v in activity.tolist() if 0.0011 < v < 0.06)  # neither clearly used nor not
    print(f"the shipped model's Var_x(μ_d) between 0.0011 and 0.06: {between}")
    assert min(counts) - 2 <= live <= max(counts) + 2, "the shipped model should count about as many as its retrains"
assert seed_0["same_weights_as_shipped_checkpoint"] is False, "the text says the seed-0 β = 1 retrain has other weights"

# %% [markdown]
# ### Your estimator on real images
#
# Exercise 1's `iw_estimate` next to the package's `vae_lite.iw_log_likelihood`, k = 100, on the core's first 100
# random test images, from the same samples.

# %%
same_draws = lambda: torch.Generator().manual_seed(1)  # a fresh generator with the same seed: the same ε each time
with torch.inference_mode():  # k = 100 samples z ~ q(z|x) for each of 100 images
    mu, logvar = model.encode(x[:100])
    z = vae_lite.reparameterize(mu.expand(100, *mu.shape), logvar.expand(100, *logvar.shape), same_draws())  # (k, N, d)
    log_px_given_z = model.log_likelihood(x[:100], z)  # (k, N)
package = vae_lite.iw_log_likelihood(model, x[:100], k=100, generator=same_draws())
try:
    yours = iw_estimate(log_px_given_z, z, mu, logvar)
except NotImplementedError:
    print("iw_estimate is not written yet (Exercise 1); the cells below use vae_lite's estimator")
else:
    noise = ((yours - package).std() / math.sqrt(len(package))).item()  # 0 if the draws are the same
    print(f"𝓛̂_100, mean over {len(package)} random images: yours {yours.mean():.2f}, vae_lite {package.mean():.2f} nats")
    assert abs(yours.mean() - package.mean()) < 4 * noise + 0.01, "the two should agree: if yours passed the " \
        "checker, vae_lite's is wrong: is it log (1/k) Σ p(x|z) p(z) / q(z|x), with the − log k, and σ (not σ²)?"

# %% [markdown]
# ### The bound against k
#
# The core's table, drawn. *Figure: the bound's mean gain over the ELBO (at 0, dashed) against k on a log axis;
# bars: ± 2 standard errors of that gain, paired image by image.*

# %%
fig, ax = plt.subplots()
plots.plot_iw_bound(KS, [gap[k] for k in KS], 0.0, ax=ax, title=f"bound − ELBO, the same {len(x)} random test images")
ax.errorbar(KS, [gap[k] for k in KS], yerr=[2 * gap_error[k] for k in KS], fmt="none", capsize=5, color="C0",
            label="± 2 SE (paired, image by image)")
ax.lines[0].set_label(r"$\hat{\mathcal{L}}_k$ − ELBO, mean over images")  # the font has no 𝓛
ax.set_ylabel("gain over the ELBO (nats)")
ax.legend()
plt.show()

# %% [markdown]
# ### Which weights carry the estimate
#
# *Figure: the first three images' k weights (the core's draw of k = 1000), largest first, each as a share of
# their sum; log–log axes. Their ESS need not be typical: the core printed the median over 100 images.*

# %%
fig, ax = plt.subplots()
shares = [(log_w[:, i] - log_w[:, i].logsumexp(dim=0)).exp().sort(descending=True).values  # each weight / their sum
          for i in range(3)]  # the first three images, largest weight first
for i, share in enumerate(shares):
    ax.loglog(range(1, len(share) + 1), share, label=f"image {i + 1}: ESS {ess(log_w[:, i]):.1f}")
ax.set(xlabel="rank of the weight, largest first", ylabel="share of Σw", title=f"one draw of k = {KS[-1]} weights")
ax.set_ylim(bottom=1e-6)  # the smallest shares reach 1e-11; the point is in the largest few
ax.legend()
plt.show()

# %% jupyter={"source_hidden": true}
# vae_lite's log-mean-exp (with the − log k) against log_weights, from the same draws as the core's Exercise 1 cell
with torch.inference_mode():
    reference = vae_lite.log_weights(model, x[:100], 100, same_draws()).logsumexp(dim=0) - math.log(100)
difference = package - reference  # 0 if the package draws as log_weights does; else sampling noise
assert abs(difference.mean()) < 4 * difference.std() / math.sqrt(len(difference)) + 1e-3, \
    "vae_lite.iw_log_likelihood should be log (1/k) Σ wᵢ, with the − log k, not the log of the weights' sum"
# the figure's text: the share of each sum held by its largest ⌈ESS⌉ weights
top = [share[:math.ceil(ess(log_w[:, i]))].sum().item() for i, share in enumerate(shares)]
assert data.name != "mnist" or QUICK or (min(top) > 0.5 and shares[2][0] > 0.5 and ess(log_w[:, 2]) < 2), \
    "the text: the largest ⌈ESS⌉ weights hold over half of each sum; image 3's largest alone does (ESS under 2)"

# %% [markdown]
# In each of the three images the largest ⌈ESS⌉ weights hold over half the sum; in image 3 (ESS 1.6) the largest
# alone does: a few weights carry 𝓛̂_k.

# %% [markdown]
# ### One image, many draws of the weights
#
# *Figure: one test image's 𝓛̂_k against k (log axis), one line per independent draw of the weights; dashed: the
# draws' mean at the largest k; dotted: k = 10.*

# %%
draws, ks = (5 if QUICK else 20), torch.arange(1, KS[-1] + 1)  # one image: cheap
with torch.inference_mode():  # the first image's weights: draws rows of KS[-1]
    one = vae_lite.log_weights(model, x[:1], draws * KS[-1], same_draws()).view(draws, KS[-1])
running = one.logcumsumexp(dim=1) - ks.log()  # 𝓛̂_k from each draw's first k weights
fig, ax = plt.subplots()
lines = ax.semilogx(ks, running.T, color="C0", linewidth=1, alpha=0.6)
lines[0].set_label("one draw of the k weights")  # one legend entry for all the draws
ax.axhline(running[:, -1].mean(), ls="--", c="gray", label=f"mean over the {draws} draws at k = {KS[-1]}")
ax.axvline(10, ls=":", c="gray", label="k = 10")
ax.legend()
ax.set(xlabel="k", ylabel=r"$\hat{\mathcal{L}}_k$ (nats)", title=f"one test image, {draws} draws")
plt.show()
above = int((running[:, 9] > running[:, -1].mean()).sum())  # k = 10 draws above the largest k's mean
print(f"sd over draws: {running[:, 9].std():.1f} nats at k = 10, {running[:, -1].std():.1f} at k = {KS[-1]}; "
      f"{above} of {draws} k = 10 draws above the mean of the k = {KS[-1]} draws")

# %% jupyter={"source_hidden": true}
assert above > 0 and running[:, -1].std() < running[:, 9].std(), "the prose: some land above; the spread shrinks"

# %% [markdown]
# Each line steps up where one large weight arrives; the draws still disagree at the largest k. Some k = 10 draws
# land above the largest k's mean, though 𝓛_10 ≤ 𝓛_k: the bound holds for the mean, not for each draw.

# %% [markdown]
# ### Why 𝓛_k grows with k, and where it ends
#
# Burda et al.'s Theorem 1: for m < k, the mean of k weights is the average, over the size-m subsets I, of their
# means $\hat p_I$, and the log of an average is at least the average of the logs:
#
# $$\mathcal{L}_k = \mathbb{E}\log\operatorname{mean}_I\hat p_I
# \;\ge\; \mathbb{E}\operatorname{mean}_I\log\hat p_I = \mathcal{L}_m.$$

# %% [markdown]
# Where it ends: their proof of 𝓛_k → log p(x) assumes bounded weights, and ours are not: where σ < 1, p(z)/q(z|x)
# grows like exp(cz²) and p(x|z) falls at most like exp(−a|z|) (a ReLU decoder), so w is unbounded. A finite ELBO
# is enough. The mean of k weights, $\hat p_k$, tends to E w = p(x) (law of large numbers), so log $\hat p_k$ → log p(x).
# For the expectation: log $\hat p_k$ − meanᵢ log wᵢ ≥ 0 (Jensen) tends to log p(x) − ELBO, so Fatou's lemma
# gives lim inf 𝓛_k ≥ log p(x); with 𝓛_k ≤ log p(x), 𝓛_k → log p(x).

# %% [markdown]
# ### Why Var(w) is infinite here
#
# Every test image has over ten latent dimensions with σ² < ½, half the prior's, the median image over twenty
# (printed below). Then E_q[w²] = ∫ p(x|z)² p(z)²/q(z|x) dz is infinite: along such a dimension p(z)²/q(z|x) grows like
# exp(z²(1/(2σ²) − 1)), faster than p(x|z)² falls (our ReLU decoder's log p(x|z) falls at most linearly in |z|).
# This matters for k: with a finite Var(w) the shortfall log p(x) − 𝓛_k would fall like Var(w)/(2k p(x)²) (the
# delta method: log p̂ to second order around p(x); Nowozin, 2018). With an infinite one that law need never hold.
# For a power-law tail another takes its place: if P(w > t) falls like t^(−α), 1 < α < 2 (so Var(w) is infinite),
# the shortfall falls like k^(1−α) for large k. Why: the log's bias comes from the rare draw in which one weight
# outweighs the k others together, a chance of about k·P(w > ck) ∝ k^(1−α), each such draw moving the log by order
# one. The next section tests this law on a toy.

# %%
with torch.inference_mode():
    variances = model.encode(x_test)[1].exp()  # q's σ², per test image and latent dimension
narrow, narrowest = (variances < 0.5).sum(dim=1), variances.min(dim=1).values  # per test image
print(f"latent dimensions with σ² < ½ (half the prior's) per test image: median {narrow.median()}, fewest {narrow.min()}")
print(f"each image's smallest σ²: median {narrowest.median():.3f}, at most {narrowest.max():.3f}; along that "
      f"dimension the far tail of w has α = 1/(1 − σ²) ≤ {1 / (1 - narrowest.max()):.2f} (the extrapolation below)")
assert data.name != "mnist" or (narrow.median() > 20 and narrow.min() > 10), \
    "the prose: every test image has over ten dimensions with σ² < ½, the median image over twenty"
Normal = torch.distributions.Normal
z3 = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)  # three points on one latent dimension
for var in (0.3, 0.5, 0.8):  # f = log p(z)² − log q(z|x) there, q = N(0.7, σ²); (f(−1) + f(1))/2 − f(0):
    f = 2 * Normal(0, 1).log_prob(z3) - Normal(0.7, var ** 0.5).log_prob(z3)  # f's z² coefficient
    assert abs((f[0] + f[2]) / 2 - f[1] - (0.5 / var - 1)) < 1e-6, "a sanity identity: z² coefficient 1/(2σ²) − 1"

# %% [markdown]
# ### 𝓛_k against a known log p(x)
#
# In notebook 02's toy (`vae_lite.LinearGaussian`: z ~ N(0, 1), x given z Gaussian around a line in z) log p(x) is
# exact, and so is the posterior p(z|x) = N(m, v). Give it q(z|x) = N(m, ρv) with ρ = 1/5 (our choice).
#
# Here the tail of the weights can be worked out, and the tail law tested. Each weight is
# w = p(x) p(z|x)/q(z|x) = p(x) √ρ e^(y(1−ρ)/2), where y = (z − m)²/(ρv) is a χ²₁ draw, whose tail falls like
# e^(−y/2). So P(w > t) falls like t^(−α) with α = 1/(1 − ρ) = 1.25: Var(w) is infinite, as ours is, and the
# shortfall should fall like k^(1−α) = k^(−0.25). The mean of many draws of 𝓛̂_k estimates 𝓛_k.
#
# *Figure: the shortfall log p(x) − 𝓛_k against k, both axes logarithmic; dotted: a 1/k law from k = 10
# (slope −1).*

# %%
exact = vae_lite.LinearGaussian(w=[2.0], b=[0.5], s=0.8)  # its q(z|x) is p(z|x), exactly
def narrow_q(x):  # the exact posterior's mean, a fifth of its variance
    mu, logvar = exact.posterior(x)
    return mu, logvar + math.log(0.2)
toy = vae_lite.LinearGaussian(w=[2.0], b=[0.5], s=0.8, q=narrow_q)
x_toy = torch.tensor([[1.5]], dtype=torch.float64)  # one x, drawn many times below
log_px_toy, repeats, toy_ks = exact.log_evidence(x_toy).item(), (200 if QUICK else 2000), [1, 10, 100, 1000]
generator = torch.Generator().manual_seed(0)
draws_k = [vae_lite.iw_log_likelihood(toy, x_toy.expand(repeats, 1), k=k, generator=generator)
           for k in toy_ks]  # repeats independent draws of 𝓛̂_k, for each k
short = [log_px_toy - d.mean().item() for d in draws_k]  # log p(x) − 𝓛_k
short_error = [d.std().item() / repeats ** 0.5 for d in draws_k]
fig, ax = plt.subplots()
ax.errorbar(toy_ks, short, yerr=[2 * e for e in short_error], fmt="o-", capsize=5,
            label=r"log p(x) − $\mathcal{L}_k$, ± 2 SE")
ax.plot(toy_ks, [short[1] * 10 / k for k in toy_ks], ":", c="gray", label="1/k from k = 10 (slope −1)")
ax.set(xscale="log", yscale="log", xlabel="k", ylabel="shortfall (nats, log axis)",
       title="a toy with a known log p(x)")
ax.legend()
plt.show()
print("shortfall, nats:", ", ".join(f"{s:.3f} ± {e:.3f} at k = {k}"
                                    for k, s, e in zip(toy_ks, short, short_error)))
toy_slope = math.log10(short[-1] / short[1]) / math.log10(toy_ks[-1] / toy_ks[1])  # from k = 10 to the largest
tail_law = lambda rho: 1 - 1 / (1 - rho)  # the slope 1 − α, with α = 1/(1 − ρ)
print(f"slope from k = 10 to {toy_ks[-1]}: {toy_slope:.2f} (the tail law: {tail_law(0.2):.2f}; 1/k: −1)")

# %% jupyter={"source_hidden": true}
assert abs(vae_lite.iw_log_likelihood(exact, x_toy, k=10).item() - log_px_toy) < 1e-9, \
    "with q = p(z|x) every weight is p(x): 𝓛̂_k should be log p(x) exactly"
def wide_q(x):  # twice the posterior's variance, shifted: a finite Var(w)
    mu, logvar = exact.posterior(x)
    return mu + 0.3, logvar + math.log(2)
w_wide = vae_lite.log_weights(vae_lite.LinearGaussian(w=[2.0], b=[0.5], s=0.8, q=wide_q), x_toy, 100_000,
                              torch.Generator().manual_seed(3)).exp()
assert abs(w_wide.mean() - math.exp(log_px_toy)) < 4 * w_wide.std() / len(w_wide) ** 0.5, "the core: E_q[w] = p(x)"
def toy_slope_at(fraction):  # the toy's slope from k = 10 to 1000 with q's variance a `fraction` of the posterior's
    q = lambda x: (exact.posterior(x)[0], exact.posterior(x)[1] + math.log(fraction))
    model_q, generator = vae_lite.LinearGaussian(w=[2.0], b=[0.5], s=0.8, q=q), torch.Generator().manual_seed(4)
    s10, s1000 = (log_px_toy - vae_lite.iw_log_likelihood(model_q, x_toy.expand(2000, 1), k=k,
                                                          generator=generator).mean().item() for k in (10, 1000))
    return math.log10(s1000 / s10) / 2
if not QUICK:  # under a second
    third = toy_slope_at(1 / 3)
    print(f"slope from k = 10 to 1000 with a third of the posterior's variance: {third:.2f} (the tail law: "
          f"{tail_law(1 / 3):.2f})")
    assert abs(toy_slope - tail_law(0.2)) < 0.1 and abs(third - tail_law(1 / 3)) < 0.1, \
        "the prose: both slopes lie near the tail law's k^(1 − α), α = 1/(1 − ρ)"
assert all(s > 2 * e for s, e in zip(short, short_error)) and short[-1] < short[0], \
    "the prose: 𝓛_k rises towards log p(x) and stays below it"
assert short[-1] > 5 * short[1] / 100, "the prose: far slower than 1/k, still short at k = 1000"

# %% [markdown]
# 𝓛_k climbs towards the exact log p(x), far slower than 1/k, and at k = 1000 it is still short. Its slope, −0.31,
# is near the law's −0.25. With a third of the posterior's variance (α = 1.5) the law says −0.5 and the toy gives
# −0.49 (printed, class mode). So the law holds where the tail is known. The toy cannot give our model's α: the
# next section reads one off our last two gains.
#
# ### How far below log p(x) is k = 5000? An extrapolation
#
# No larger k shows what k = 5000 misses, so assume: the shortfall $S_u$ = log p(x) − 𝓛_k at k = K·10ᵘ (K our
# largest k) shrinks by a factor r per tenfold, as the tail law's k^(1−α) does with r = 10^(1−α). Then each tenfold
# gains r times the one before. Take r from the core's last two gains (the last, g, over the one before); the
# printed ± is a bootstrap over the images. After the last gain g
#
# $$S_0 = gr + gr^2 + \dots = \frac{gr}{1-r}, \qquad S_u = S_0\,r^u.$$
#
# k = 5000 is t = log₁₀(5000/K) tenfolds on: the step there gains $S_0 - S_t$.

# %%
ratio = gains[-1] / gains[-2]  # the fraction of the previous tenfold's gain that the last one kept
decades = math.log10(5000 / KS[-1])  # from the largest k here to k = 5000, in tenfolds
if 0 < ratio < 1:
    shortfall = lambda u: gains[-1] * ratio ** (1 + u) / (1 - ratio)  # log p(x) − 𝓛_k, u tenfolds past our largest k
    to_5000, beyond_5000 = shortfall(0) - shortfall(decades), shortfall(decades)
    resample = torch.randint(len(x), (1000, len(x)), generator=torch.Generator().manual_seed(2))  # of the images
    level = [iw_per_image[k][resample].mean(dim=1) for k in KS[-3:]]  # (1000,) each: the last three k
    last, before = level[2] - level[1], level[1] - level[0]  # g and the gain before it, on each resample
    shrinking = (last > 0) & (last < before)  # the resamples whose gains shrink, as ours do
    boot_r = last[shrinking] / before[shrinking]
    boot_s0 = last[shrinking] * boot_r / (1 - boot_r)  # g r/(1 − r) on each
    print(f"r = {gains[-1]:.3f} / {gains[-2]:.3f} = {ratio:.2f} ± {boot_r.std():.2f}, a shortfall falling like "
          f"k^{math.log10(ratio):.2f} (α = {1 - math.log10(ratio):.2f}); if it holds:")
    print(f"  all past k = {KS[-1]} add g r/(1 − r) = {shortfall(0):.2f} ± {boot_s0.std():.2f} nats "
          f"({int(shrinking.sum())} of 1000 resamples shrink)")
    print(f"  k = {KS[-1]} → 5000 (t = {decades:.2f}) adds about {to_5000:.2f} nats, leaving about "
          f"{beyond_5000:.2f} at k = 5000")
    print(f"if the gains stopped shrinking instead, k = {KS[-1]} → 5000 would add {gains[-1] * decades:.2f} nats")
    series = sum(gains[-1] * ratio ** u for u in range(1, 200))  # gr + gr² + …
    assert abs(series - shortfall(0)) < 1e-3, "a sanity identity (not a check of the model): gr + gr² + … = gr/(1 − r)"
else:
    to_5000 = beyond_5000 = None
    print(f"the last two gains ({gains[-2]:.2f}, {gains[-1]:.2f}) do not shrink: no extrapolation from them")
assert data.name != "mnist" or 0.1 < (beyond_5000 or 0) < 1, "the prose: on MNIST, the law leaves a few tenths of a nat at k = 5000"
seed_span = max(column("neg_elbo")[BETAS.index(1)]) - min(column("neg_elbo")[BETAS.index(1)])
assert data.name != "mnist" or 0.1 < seed_span < 0.3 < behind / 10, \
    "the β = 1 seeds span about 0.2 nats, far below the gap to Burda et al."
assert data.name != "mnist" or -0.5 < math.log10(ratio) < -0.1, "the prose: the shortfall falls far slower than 1/k"
assert data.name != "mnist" or 1 / (1 - narrowest.max()) < min(1.1, 1 - math.log10(ratio)), \
    "the prose: every image's narrowest dimension gives a far tail with α at most 1.07, heavier than our gains' α"

# %% [markdown]
# So if the law held, k = 5000 would sit a few tenths of a nat below log p(x) for this model, give or take a quarter
# of a nat (the bootstrap ± of the series). That is a floor, not a measurement, and probably too low: in notebook 10
# (part 4), on the first 40 test images of this same model, a better proposal's estimates lie about half a nat
# (± a tenth) above the encoder's even at k = 40,000, where the law would leave less than k = 5000's few tenths. The
# extrapolation assumes our weights keep, past k = 1000, the α of our last two gains. Further out their tail is
# heavier: along a latent dimension where q has variance σ², p(z)/q(z|x) alone gives α = 1/(1 − σ²) (the toy with
# ρ = σ²), and every test image has a dimension where that is at most 1.07 (printed in Why Var(w) is infinite). Once
# draws reach so far, the gains shrink far more slowly. Exercise 3 measures the next step; agreeing with the law
# there says nothing of the tail further out, and a larger k never shows how much is left.
#
# An upper bound would settle it. Annealed importance sampling (samples moved through a chain of distributions from
# p(z) to p(z|x)), run in reverse from an exact posterior sample, bounds log p(x) from above in expectation; such
# samples exist only for data simulated from the model (bidirectional Monte Carlo, which pairs this upper bound with
# the usual lower one; Grosse et al., 2015).

# %% [markdown]
# **Exercise 2 (5 min).** Discuss. "A strong decoder can model x without z" is a common explanation of posterior
# collapse. It holds for an *autoregressive* decoder, which predicts each part of x from the parts before it and z
# (an LSTM over words, Bowman et al., 2016; a PixelCNN over pixels, Chen et al., 2017). Does it hold for ours,
# one Bernoulli per pixel given z, however large the MLP or conv net? What would ours lose by ignoring z?

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution. No. Given z, our decoder's pixels are independent, so a decoder that ignores z gives every image the
# same pixel probabilities, however many layers it has: the best of those is the mean of the images scored, and
# D₀ (the mean training image) comes close to it. Ignoring z costs at least the difference printed below, per image
# (more against log p(x), which the −ELBO underestimates).
# So on data whose pixels depend on each other, as MNIST's do, a factorised decoder cannot make z useless at the
# optimum; a latent dimension switches off when what it adds to the reconstruction is worth less than the KL it
# costs, and β sets that price (the sweep). Training can still stop in a poorer optimum with more dimensions off
# (Lucas et al., 2019: in a linear Gaussian VAE the ELBO adds no local maxima that log p(x) lacks; collapse there
# comes from the model, not the bound). At home: train `VAE(..., decoder_hidden=[512, 512])` with notebook 05's
# recipe and count its active units.
beta_1 = mean(column("neg_elbo")[BETAS.index(1)])
print(f"D₀ = {sweep['mean_image_distortion']:.1f} nats against the β = 1 models' −ELBO of {beta_1:.1f} nats: "
      f"ignoring z would cost at least {sweep['mean_image_distortion'] - beta_1:.0f} nats per image")

# %% [markdown]
# **Exercise 3 (25 min).** Take the next step of k yourself: estimate log p(x) with k = 5000 and with k = 1000 on the
# same 200 of the random test images (`vae_lite.iw_log_likelihood`), and take the difference image by image, with its
# standard error. The extrapolation cell (How far below log p(x) is k = 5000?) printed two scenarios for that step:
# the gains per tenfold k keep shrinking by the same ratio, or they stop shrinking. Which one does your measurement
# favour, and by how many standard errors? The scenarios are estimates too: give them a standard error (e.g. a
# bootstrap over the images they came from). The next cell checks your gain and its standard error for three
# likely mistakes: the wrong sign, the wrong baseline, and an unpaired standard error.

# %%
gain = gain_error = None  # yours: the mean of (k = 5000) − (k = 1000), image by image, and its standard error


def check_gain(gain, gain_error):
    """Exercise 3's check: a positive gain, under the last tenfold's, with a paired standard error (not which
    scenario is right)."""
    if gain is None:
        return print("Exercise 3 not done yet")
    assert gain > 0, "a larger k should score higher: subtract the k = 1000 estimate from the k = 5000 one"
    assert gain < gains[-1], "k = 1000 → 5000 is under one tenfold, so it should add less than the last tenfold " \
        f"did ({gains[-1]:.2f} nats): subtract the k = 1000 estimate, not the ELBO's or a smaller k's"
    assert 0.02 < gain_error < 0.3, f"± {gain_error:.2f} nats is no paired standard error: take the differences " \
        "image by image first (log p(x) varies by tens of nats between images), then their sd / √n (not / n)"
    print(f"{gain:+.2f} ± {gain_error:.2f} nats: positive, with a paired standard error")


check_gain(gain, gain_error)

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution: a paired difference on the same images, next to both scenarios for the same step (t = log10(5) tenfolds).
# (In quick mode: 100 images, k = 100 → 500.)
small_k, large_k, images = KS[-1], 5 * KS[-1], x[:200]
torch.manual_seed(1)
gain_per_image = vae_lite.iw_log_likelihood(model, images, k=large_k) - vae_lite.iw_log_likelihood(model, images, k=small_k)
gain, gain_error = gain_per_image.mean().item(), (gain_per_image.std() / math.sqrt(len(images))).item()
print(f"k = {small_k} → {large_k} on {len(images)} images: {gain:+.2f} ± {gain_error:.2f} nats")
check_gain(gain, gain_error=gain_error)
if to_5000 is not None:
    t = math.log10(large_k / small_k)
    shrink = lambda g1, g2: g1 * (g1 / g2) * (1 - (g1 / g2)**t) / (1 - g1 / g2)  # the last two gains → the next step
    scenarios = {"gains shrink by the ratio r": shrink(gains[-1], gains[-2]), "gains stop shrinking": gains[-1] * t}
    # the scenarios' own error: recomputed on 1,000 resamples (with replacement) of the images that gave the gains
    resample = torch.randint(len(x), (1000, len(x)), generator=torch.Generator().manual_seed(2))  # of the images
    bound = [iw_per_image[k][resample].mean(dim=1) for k in KS[-3:]]  # (1000,) each
    last, before = bound[2] - bound[1], bound[1] - bound[0]
    scenario_error = {"gains shrink by the ratio r": shrink(last, before).std().item(),
                      "gains stop shrinking": (last * t).std().item()}
    for name, value in scenarios.items():
        error = math.hypot(gain_error, scenario_error[name])  # as if independent: they share images, so approximate
        print(f"  {name:28s} {value:+.2f} ± {scenario_error[name]:.2f} nats: the measurement is "
              f"{round((gain - value) / error, 1) + 0.0:+.1f} standard errors away (errors combined)")
    nearer = min(scenarios, key=lambda name: abs(gain - scenarios[name]))
    print(f"nearer: {nearer!r} (for this one step only, not for the tail beyond it)")

# %% [markdown]
# **Exercise 4 (5 min).** Discuss. Where on the rate–distortion curve would you pick a model to *generate* digits,
# and where to *compress* them, without loss and with some? Use the figures of the sweep.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution (one answer).
# - Lossless compression: with bits-back coding (z is drawn from q(z|x) by decoding bits already in the message,
#   which the receiver gets back) a VAE codes an image in about −ELBO nats (Townsend et al., 2019), so the best
#   point is the one with the least R + D, β = 1 in the sweep.
# - Lossy compression: send a sample of q(z|x), about R nats with relative-entropy coding (randomness shared with
#   the receiver picks the sample; Flamich et al., 2020), and accept its distortion: the least R for the distortion
#   you can live with, a β above 1 for a coarse code.
# - Generation: samples are prior draws, decoded, so they look right only where the data's codes cover N(0, I),
#   and only as sharp as the code lets them be. At β = 0.25 the codes do not cover it (fragments of strokes); at
#   β = 16 the code carries almost nothing (blurred averages). By eye, β between 1 and 4 gives the most digit-like
#   samples of this sweep; a sharper generator needs a better model, not only another β.
print("a discussion: the sweep's table and figures have the numbers")

# %% [markdown]
# **Exercise 5 (10 min).** The β table counts active units, Var_x(E[z_d|x]) > 0.01; another count takes the
# dimensions costing over 0.1 nats of KL. Both are conventions. Count again from `run["activity"]` and `run["kl_per_dimension"]`
# (the sweep's `runs`) with each threshold ten times smaller and ten times larger, at β = 1 and at β = 16. Where do
# the counts move, and why there?

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution: the counts, per seed, for each threshold; the usual thresholds (0.01, 0.1 nats) in the middle.
def in_use(beta, key, threshold):
    return [int((torch.tensor(run[key]) > threshold).sum()) for run in runs if run["beta"] == beta]


moved = {}
for beta in (1, 16):
    for key, middle in (("activity", 0.01), ("kl_per_dimension", 0.1)):
        by_threshold = {t: in_use(beta, key, t) for t in (middle / 10, middle, middle * 10)}
        moved[beta, key] = max(map(max, by_threshold.values())) - min(map(min, by_threshold.values()))
        print(f"β = {beta:<2g} {key:16s}", "   ".join(f"> {t:g}: {c}" for t, c in by_threshold.items()))
# At β = 1 almost every dimension is clearly used or not: Var_x(μ_d) is at least 0.06 or at most 0.0011, with at
# most one stray dimension per model in between (seed 1: 0.019; the shipped model: 0.0074, just under 0.01, so not
# counted; both printed). The unused ones sit in a cluster around 0.001 (about 0.0005 to 0.0011), which
# the 0.001 threshold cuts into: the count moves by a few.
# The KL count about halves above 1 nat: many used dimensions carry under a nat each. At β = 16 many dimensions
# keep a variance of a few thousandths, between the thresholds, and the active-unit count moves by over twenty.
# Report the threshold with the count: it matters most near collapse.
halved = sum(in_use(1, "kl_per_dimension", 1.0)) / sum(in_use(1, "kl_per_dimension", 0.1))
at_1 = torch.tensor([run["activity"] for run in runs if run["beta"] == 1])  # (seeds, d)
cluster = (at_1 > 4e-4) & (at_1 < 1.2e-3)  # the unused dimensions' variances
stray = ~((at_1 >= 0.06) | cluster)  # neither clearly used nor in the cluster
assert stray.sum(dim=1).max() <= 1 and (cluster & (at_1 < 1e-3)).any() and (cluster & (at_1 > 1e-3)).any(), \
    "the text: at β = 1 each Var_x(μ_d) is ≥ 0.06 or in a cluster around 0.001 (cut by 0.001), one stray at most"
print("β = 1 retrains, Var_x(μ_d) neither ≥ 0.06 nor in the cluster:", [round(v, 4) for v in at_1[stray].tolist()])
assert [round(v, 3) for v in at_1[stray].tolist()] == [0.019], "the text: one stray among the retrains, 0.019"
assert data.name != "mnist" or (len(between) == 1 and 0.007 < between[0] < 0.008), \
    "the text: the shipped model has one stray dimension, at 0.0074, just under 0.01"
assert moved[1, "activity"] < 5 and moved[16, "activity"] > 20 and 0.35 < halved < 0.65, \
    "the text: at β = 1 the active units move by a few, the KL count about halves; at β = 16 they move by over 20"

# %% [markdown]
# ### Grey-level and thresholded test images (the core's common mistake)
#
# The core scored one model on three versions of the test images. The two terms of its grey-level score, next to
# the binarized one's:

# %%
print(f"the grey-level −ELBO is {abs(grey_minus_binarized):.1f} nats "
      f"{'higher (worse)' if grey_minus_binarized > 0 else 'lower'}, for the same model and the same test images")
print(f"reconstruction term: {test['reconstruction']:.1f} binarized, {grey['reconstruction']:.1f} grey; "
      f"KL: {test['kl']:.1f} and {grey['kl']:.1f} nats")
assert data.name != "mnist" or (grey_minus_binarized > 0
                               and grey["reconstruction"] < test["reconstruction"] - grey_minus_binarized), \
    "the prose: the grey-level score is higher, all of it (and more) in the reconstruction term"
if not QUICK:  # four other random binarizations of the test set, scored with the same ε
    redrawn = [-test["elbo"]]
    for seed in range(1, 5):
        torch.manual_seed(0)
        redraw = torch.bernoulli(data.test, generator=torch.Generator().manual_seed(seed))
        redrawn.append(-vae_lite.evaluate(model, redraw)["elbo"])
    print(f"five random binarizations of the test images: −ELBO {min(redrawn):.2f} to "
          f"{max(redrawn):.2f} nats, sd {sd(redrawn):.2f}")
    assert data.name != "mnist" or 0.02 < sd(redrawn) < 0.2, \
        "the prose: the draw moves the −ELBO by about a tenth of a nat"

# %% [markdown]
# Why higher (worse): for a fixed code z the Bernoulli log-likelihood is linear in x, so a grey image scores the
# mean of its binarizations' scores from the grey image's code. The difference is in the code: a binarized image's
# own code fits its particular draw, a better reconstruction for a little more KL (printed). On grey levels the
# score is not a likelihood (x is not binary); a true one needs another decoder: a density on [0, 1] such as the
# continuous Bernoulli (Loaiza-Ganem & Cunningham, 2019), or a distribution over the 256 grey levels.

# %% [markdown]
# Even the random draw matters a little: other draws of the same test images move the −ELBO by about a tenth of a nat
# (printed, class mode), small next to the gaps this notebook compares.

# %% [markdown]
# ### Half an hour of CPU time, next to the published numbers
#
# **The point: the ELBO and the IW NLL can rank two models differently, and more than training time differs
# between runs: a number next to a published one needs the same images, k and binarization, and a list of what
# else differs.** Burda et al.'s VAE trained for 3,280 epochs. What do **30 CPU-minutes** buy?
#
# `benchmarks/frontier.py` trained three models for that long (one stochastic layer, a diagonal Gaussian q(z|x),
# the N(0, I) prior); every row estimates −log p(x) with k = 5000 on **all** 10,000 test images. Too long for
# class: this cell reads the stored results.
# - row 2, `mnist_best.pt`: networks 784-512-512-50 with ReLU, trained on the ELBO with the KL warmed up over the
#   first 10 epochs;
# - row 3: the same networks trained to maximise L₅ (the bound 𝓛_k with k = 5) instead of the ELBO: the
#   importance-weighted autoencoder (IWAE; notebook 10; `--train-k 5`), with the same recipe but no KL warm-up
#   (one could anneal log p(z) − log q(z|x) inside each log w; `frontier.py` does not support it);
# - row 4: Burda et al.'s own networks, 784-200-200-50 with tanh, with their objective (the plain ELBO).

# %% [markdown]
# <details><summary>What else differs, row by row</summary>
#
# - **Every row:** one seed (the ± is over test images, not seeds) and our binarization of the test set. Each bound
#   uses its own encoder as the proposal (the distribution the z are drawn from); what k = 5000 still misses is
#   bounded from below for row 1 only (notebook 10, on 40 test images).
# - **Rows 1 to 3: the recipes were picked on test images** (the −ELBO on all 10,000, the IW NLL on the first
#   1,000): row 1's by `recipe_screen.py`, rows 2–3's for the VAE with 784-512-512 ReLU networks; none was tuned
#   for L₅. Row 4's KL warm-up was screened on held-out training images (no difference beyond its uncertainty), and
#   row 4 scored the test set once. Row 1's screen was redone on held-out training images (`benchmarks/README.md`).
#   On images 1,001 to 10,000, which no IW NLL screen saw (and harder than the first 1,000), rows 2 to 4 keep their
#   order and row 2 is still below Burda et al.'s VAE (theirs on all 10,000; printed).
# - **The half hours are not equal:** row 4 ran on a processor that did the scripts' fixed reference workload about
#   twice as fast per CPU-second, did no scoring of the test set inside its timed training, and took over four times
#   row 2's Adam steps (the steps column). Even on one host a CPU-second varies by tens of percent (contention):
#   rows 2 and 3 did the same evaluation work in quite different CPU times (printed), so their equal half hours are
#   approximate. Against Burda et al.: far fewer epochs and Adam steps, batches of 128 against 20, a one-cycle
#   schedule (notebook 05).
# - **Row 2 against row 3:** objective, epochs and KL warm-up all differ. The VAE's edge is about the size of the
#   only yardstick for seed noise here, a rough proxy from another model and metric (the small default model's −ELBO
#   spread over seeds, printed).
#
# The screens and processors: the collapsed cell after the table; the commands behind each row:
# `benchmarks/README.md`.
#
# </details>

# %% [markdown]
# > **Predict, then run.** Row 1 is the default model (a 1-thread run). How many nats does half an hour of CPU time
# > buy with larger networks?

# %%
BEST = "best-h512x2-l50-b128-one150-w10-mean"
BEST_ON_L5 = "iwae5-h512x2-l50-b128-one58-mean"  # the same networks on the IWAE bound L_5, about the same CPU time
BURDA_NETWORKS = "final-burda-h200x2-tanh-b128-one660-w0"  # Burda et al.'s networks and objective, test set scored once
BURDA = {"VAE, trained with k = 1": 86.76, "IWAE, trained with k = 50": 84.78}  # Burda et al., ICLR 2016 version, Table 1
frontier = json.loads((RESULTS / "frontier.json").read_text())
best, best_on_l5, burda_networks = frontier[BEST], frontier[BEST_ON_L5], frontier[BURDA_NETWORKS]
default = json.loads((RESULTS / "quality.json").read_text())["mnist-default"]
full_best, full_on_l5, full_burda = (run["full_evaluation"] for run in (best, best_on_l5, burda_networks))
adam_steps = lambda epochs, batch, images=60_000: epochs * math.ceil(images / batch)  # one step per batch
rows = [("1 ours: default model", default["epochs_trained"], default["train_cpu_seconds"],
         adam_steps(default["epochs_trained"], default["config"]["batch_size"]), default["test_neg_elbo"],
         default["iw_nll"], default["iw_nll_std_error"])]
for name, run, evaluation in [("2 ours: mnist_best.pt", best, full_best),
                              ("3 ours: same, on L₅ (IWAE)", best_on_l5, full_on_l5),
                              ("4 ours: Burda's networks", burda_networks, full_burda)]:
    rows.append((name, run["epochs_trained"], run["train_cpu_seconds"],
                 adam_steps(run["epochs_trained"], run["config"]["batch"]),
                 evaluation["neg_elbo"], evaluation["iw_nll"], evaluation["iw_nll_std_error"]))
gaps = [neg_elbo - nll for *_, neg_elbo, nll, _ in rows]  # log p̂(x) − ELBO, model by model
print(f"{'':27s} {'epochs':>6s} {'CPU-min':>7s} {'Adam steps':>10s} {'−ELBO':>6s} {'IW NLL':>13s} {'gap':>5s}")
for (name, epochs, cpu, steps, neg_elbo, nll, error), gap_here in zip(rows, gaps):
    print(f"{name:27s} {epochs:6d} {cpu / 60:7.1f} {steps:10,d} {neg_elbo:6.2f} {nll:6.2f} ± {error:.2f} {gap_here:5.2f}")
burda_steps = adam_steps(3280, 20, 59_600)  # 3,280 epochs of batches of 20 from 59,600 training images
for name, nll in BURDA.items():
    print(f"{'Burda et al.: ' + name.split(',')[0]:27s} {3280:6d} {'':>7s} {burda_steps:10,d} {'':>6s} {nll:6.2f}")
print("IW NLL: k = 5000, all 10,000 test images.")
print("gap = −ELBO − IW NLL ≈ KL(q(z|x) ‖ p(z|x)):")
print("  it differs by model; rank by the IW NLL")
thirty = (full_best, full_on_l5, full_burda)  # the 30-minute runs' evaluations, rows 2 to 4
print("rows 2 to 4, IW NLL on the first 1,000 test images alone:", ", ".join(f"{f['iw_first_1000']:.2f}" for f in thirty),
      "(easier images)")
margin = BURDA["VAE, trained with k = 1"] - full_best["iw_nll"]
print(f"row 2: {abs(margin):.2f} nats {'below' if margin > 0 else 'above'} Burda et al.'s VAE, from one seed, on our "
      f"binarization of the test set,")
print("  with a recipe chosen on test images: about level, not a result")
print(f"and {full_best['iw_nll'] - BURDA['IWAE, trained with k = 50']:.2f} nats above Burda et al.'s IWAE")
burda_margin = full_burda["iw_nll"] - BURDA["VAE, trained with k = 1"]
print(f"Burda et al.'s networks on the plain ELBO, {burda_networks['epochs_trained']} epochs (theirs: 3,280): "
      f"{abs(burda_margin):.2f} nats {'above' if burda_margin > 0 else 'below'} their VAE, one seed")

# %% jupyter={"outputs_hidden": true, "source_hidden": true}
# The numbers of the details above: the warm-up screen, processors, evaluation times.
screened = {name: run for name, run in frontier.items() if name.startswith("val-burda")}  # row 4's warm-up screen
warmups = sorted(run["config"]["warmup"] for run in screened.values())
first = next(iter(screened.values()))
print(f"row 4's warm-up screen: {len(screened)} runs (KL warm-up over {warmups} epochs), "
      f"{first['epochs_trained']} epochs each")
print(f"  on {first['train_images']:,} training images, scored on held-out ones; "
      f"row 4: {burda_networks['epochs_trained']} epochs on {burda_networks['train_images']:,}")
screen_px = {run["config"]["warmup"]: torch.cat(torch.load(RESULTS / f"{name}.iw.pt", weights_only=True)["chunks"])
             for name, run in screened.items()}  # log p(x), k = 5000, the same held-out images
warmup_edge = screen_px[warmups[-1]] - screen_px[warmups[0]]  # paired, image by image
warmup_error = warmup_edge.std().item() / len(warmup_edge) ** 0.5
print(f"  warm-up {warmups[-1]:g} against {warmups[0]:g}: log p(x) {warmup_edge.mean():+.2f} ± {warmup_error:.2f} "
      f"nats, paired on {len(warmup_edge):,} held-out images")
reference_seconds = {name: sum(run["reference_cpu_seconds_before_after"]) / 2
                     for name, run in [(BEST, best), (BURDA_NETWORKS, burda_networks)]}
speedup = reference_seconds[BEST] / reference_seconds[BURDA_NETWORKS]
print(f"processors: {burda_networks['machine']['processor']} for the fourth row, "
      f"{best['machine']['processor']} for the second;")
print(f"  the fixed reference workload took {reference_seconds[BURDA_NETWORKS]:.2f} and {reference_seconds[BEST]:.2f} CPU s:")
print(f"  {speedup:.1f} times the computation per CPU-second for the fourth row")
print("rows 2 to 4: evaluation took", ", ".join(f"{f['cpu_seconds'] / 60:.0f}" for f in thirty), "CPU-min")
same_work = full_best["cpu_seconds"] / full_on_l5["cpu_seconds"]  # rows 2 and 3: the same networks, k, images
amd = [t for run in frontier.values() if run["machine"]["processor"] == best["machine"]["processor"]
       for t in run.get("reference_cpu_seconds_before_after") or []]  # row 2's processor type, every run
print(f"  rows 2 and 3 did the same evaluation work, yet one took {same_work:.1f} times the other's CPU time;")
print(f"  on {best['machine']['processor']} the reference workload took {min(amd):.2f} to {max(amd):.2f} CPU s "
      "over all runs:")
print("  a CPU-second on a shared host varies by tens of percent, so equal CPU times are approximate")
assert abs(warmup_edge.mean()) < 2 * warmup_error, \
    "the details: the warm-up screen shows no difference beyond its ±"
assert same_work > 1.3 and max(amd) > 1.3 * min(amd), "the details: CPU-seconds on the shared host vary a lot"

# %%
# both estimates used the same test images and the same noise: compare the two models image by image
log_px = {name: torch.cat(torch.load(RESULTS / f"{name}.iw.pt", weights_only=True)["chunks"])
          for name in (BEST, BEST_ON_L5, BURDA_NETWORKS)}
edge = log_px[BEST] - log_px[BEST_ON_L5]  # (10000,) nats per image by which the VAE explains it better
edge_error = edge.std().item() / len(edge) ** 0.5  # over test images only: one seed each, seed noise not in it
cost_per_epoch = {name: run["train_cpu_seconds"] / run["epochs_trained"]
                  for name, run in [(BEST, best), (BEST_ON_L5, best_on_l5)]}
print(f"an epoch on L₅ costs {cost_per_epoch[BEST_ON_L5] / cost_per_epoch[BEST]:.1f} times an ELBO epoch, so it "
      f"had {best_on_l5['epochs_trained']} epochs to the VAE's {best['epochs_trained']}")
print(f"KL warm-up: {best['config']['warmup']:g} epochs for the VAE, {best_on_l5['config']['warmup']:g} for L₅")
print(f"image by image the VAE's log p(x) is {edge.mean():.2f} ± {edge_error:.2f} nats higher (± over test images)")
later = [-log_px[name][1000:].mean().item() for name in (BEST, BEST_ON_L5, BURDA_NETWORKS)]
print("rows 2 to 4, IW NLL on images 1,001 to 10,000 (no IW NLL screen saw them):",
      ", ".join(f"{nll:.2f}" for nll in later))
larger = log_px[BEST] - log_px[BURDA_NETWORKS]  # (10000,) row 2's recipe against row 4's, image by image
larger_error = larger.std().item() / len(larger) ** 0.5
print(f"row 2's log p(x) is {larger.mean():.2f} ± {larger_error:.2f} nats higher than row 4's (Burda et al.'s "
      "networks),\n  image by image (one seed each)")
seeds_at_1 = column("neg_elbo")[BETAS.index(1)]  # the β sweep: the small default recipe retrained with three seeds
seed_range = max(seeds_at_1) - min(seeds_at_1)
ranges = [max(v) - min(v) for v in column("neg_elbo")]  # the same, at every β of the sweep
print("only a rough proxy for seed noise (another model, another metric):")
print(f"  the small default model's −ELBO spans {seed_range:.2f} nats over {len(seeds_at_1)} seeds (the β sweep); "
      "neither 30-minute run has a second seed")
print(f"  over the sweep's βs the range is {min(ranges):.2f} to {max(ranges):.2f} nats: the proxy is rough")
print(f"so the L₅ edge, {edge.mean():.2f} nats, is about the β = 1 proxy ({seed_range:.2f}): cannot tell")

# %%
# The −ELBO of rows 2 and 4, image by image: both checkpoints, the same binarized test images, 4 draws of z each
if data.name == "mnist":
    all_test = vae_lite.binarized_test_set(mnist_full)[:1000 if QUICK else None]  # all 10,000 in class mode
    elbo_by_image = {}
    for name, run in [(BEST, best), (BURDA_NETWORKS, burda_networks)]:
        trained, generator = vae_lite.load(RESULTS / run["checkpoint"]), torch.Generator().manual_seed(0)
        with torch.inference_mode():
            elbo_by_image[name] = torch.cat([vae_lite.elbo(trained, all_test[i:i + 500], samples=4, generator=generator)
                                             .elbo for i in range(0, len(all_test), 500)])
    elbo_edge = elbo_by_image[BURDA_NETWORKS] - elbo_by_image[BEST]  # row 4's ELBO above row 2's, per image
    elbo_edge_error = elbo_edge.std().item() / len(elbo_edge) ** 0.5
    print(f"image by image, row 4's ELBO is {elbo_edge.mean():.2f} ± {elbo_edge_error:.2f} nats above row 2's "
          f"({len(all_test):,} test images), while its log p(x) is {larger.mean():.2f} ± {larger_error:.2f} below")
    assert QUICK or 3 * elbo_edge_error < elbo_edge.mean() < max(ranges), \
        "the prose: the ELBO's reversal is beyond test-image noise, yet within the seed ranges of the sweep"

# %% [markdown]
# > **What the table shows:** in half an hour of CPU, larger networks than Burda et al.'s come about level with their
# > VAE (within a nat). Their own networks come out above it, by about twice a rough seed-noise proxy (both
# > printed) but under a nat: one seed, so undecided.
# >
# > **What it does not show:** that we match their VAE, or that the ELBO beats the IWAE's bound: each run is one
# > seed, the recipe was partly chosen on test images, and more than the training time differs (the details above).

# %% [markdown]
# Reading the table:
# - **Rank by the IW NLL.** The gap between the two columns is KL(q(z|x) ‖ p(z|x)), less what k = 5000 misses, and
#   it differs by model: largest for the L₅ run, whose encoder is trained as a proposal for five weighted samples,
#   not to make the ELBO tight (Cremer, Morris & Duvenaud, 2017; Rainforth et al., 2018). So the −ELBO can misorder
#   models. It ranks rows 2 and 4 the other way round, image by image beyond test-image noise but within the seed
#   ranges of the sweep (printed): with one seed each, this reversal might not survive a second one, while the
#   IW NLL's order is several times larger. The gap splits in two (Cremer, Li & Duvenaud, 2018): the best q of the
#   encoder's family still misses p(z|x) (the approximation gap), and one encoder for all x misses that best q
#   (notebook 02's amortization gap).
# - **The 784-512-512 ReLU recipe bought more** (tuned for those networks, on test images) than Burda et al.'s tanh
#   networks, image by image (printed), with under a quarter of the Adam steps. Size, activation, warm-up, tuning
#   and epochs all differ: these runs do not say which paid.
# - **L₅ vs the ELBO: no winner.** The VAE's log p(x) is higher image by image, by about the seed-noise proxy (both
#   printed). An L₅ epoch costs over twice an ELBO epoch, and only the VAE had a KL warm-up. Notebook 10 trains a
#   VAE and an IWAE for the same number of epochs, where the bound wins.
# - Burda et al.'s IWAE (L₅₀, 3,280 epochs) is still ahead.
# - The first 1,000 test images are easier for all three 30-minute runs (printed): say which images a number is on.
#   The default model's −ELBO differs from the Model section's by another draw of z: sampling noise.

# %% jupyter={"source_hidden": true}
# The prose of this section against the stored results: tests/test_benchmarks.py (test_notebook_08s_reading_...).
assert data.name != "mnist" or len(x_test) < 10_000 or abs(default["test_neg_elbo"] + test["elbo"]) < 0.3, \
    "the prose: the default model's −ELBO in the table and at the top differ only by sampling noise"
row_2, row_4 = rows[1], rows[3]  # (name, epochs, CPU s, Adam steps, −ELBO, IW NLL, its error)
assert later == sorted(later) and later[0] < BURDA["VAE, trained with k = 1"], \
    "the details: on images 1,001 to 10,000 rows 2 to 4 keep their order, row 2 still below Burda et al.'s VAE"
assert min(ranges) < edge.mean() < max(ranges) and 0.5 * seed_range < edge.mean() < 2 * seed_range, \
    "the prose: the L₅ edge is about the β = 1 seed range, and within the sweep's ranges"
assert 1.5 * seed_range < burda_margin < min(1, 3 * seed_range), "the prose: Burda's networks sit above their VAE, " \
    "by about twice the β = 1 seed range, under a nat"
assert (row_2[4] < row_4[4]) != (row_2[5] < row_4[5]), \
    "the prose, here and in the core: the −ELBO and the IW NLL rank rows 2 and 4 apart"

# %% [markdown]
# *Figure: ten samples (decoded z ~ N(0, I)) from the default model, and from the 30-minute model decoding the
# same ten z (column by column).*

# %%
best_model = vae_lite.load(RESULTS / "mnist_best.pt")
default_mnist = vae_lite.load(pretrained.CHECKPOINT)
same_z = lambda: torch.Generator().manual_seed(0)  # both models have 50 latent dimensions: the same ten z
default_samples = default_mnist.sample(10, generator=same_z())  # the ten z of the sweep's figure
best_samples = best_model.sample(10, generator=same_z())
networks = "-".join(map(str, [784, *best["config"]["hidden"]]))  # the 30-minute model's, e.g. 784-512-512
plots.show_rows({f"default model, {default['train_cpu_seconds'] / 60:.1f} CPU-min": default_samples,
                 f"{networks} VAE, {best['train_cpu_seconds'] / 60:.0f} CPU-min": best_samples},
                ncols=10, size=0.9);

# %% jupyter={"source_hidden": true}
assert (default_samples - pixels(shown["samples"]["1"])).abs().mean() < 0.04, \
    "the prose: the shipped model's samples look like the seed-0 β = 1 retrain's, from the same z"
# the runs record whether they reproduced the shipped weights, and the machine's platform string
assert seed_0["same_weights_as_shipped_checkpoint"] is False and default["same_weights_as_shipped_checkpoint"] \
    and sweep["machine"]["platform"] != default["machine"]["platform"], \
    "the prose: the sweep's seed-0 retrain has other weights, made on another machine than the one that reproduced them"
assert best_model.latent_dim == default_mnist.latent_dim, "the caption: both models decode the same ten z"
greyness = lambda p: (p * (1 - p)).mean().item()  # 0 for pixel probabilities of 0 or 1, 0.25 for ½ everywhere
assert greyness(best_samples) < 0.85 * greyness(default_samples), \
    "the prose: the 30-minute model's samples are sharper (pixel probabilities nearer 0 or 1) than the default's"

# %% [markdown]
# Both sample rows are MNIST models, whatever data set this notebook runs on. The default model's row decodes the
# same ten z as the β = 1 row of the sweep's figure: the seed-0 retrain there, the same seed and recipe on another
# machine, has other weights but nearly the same samples. The 30-minute model's row is sharper, its pixel
# probabilities nearer 0 or 1, and by eye more of its samples read as digits, though some are still odd shapes.
