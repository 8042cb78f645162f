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
from vae_lite import plots, pretrained

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
# From here on the cells use `vae_lite.iw_log_likelihood` (Optional: Your estimator on real images). With k = 1
# the bound is the ELBO; each larger k is set against it image by image, on the **same images**.

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
assert abs(gap[1]) < 4 * gap_error[1] + 0.05, "with k = 1 the bound is the ELBO, up to noise: vae_lite's ELBO " \
    "and its k = 1 bound disagree (a package bug, not your exercise: is the ELBO reconstruction MINUS the KL, " \
    "and are log_weights log p(x|z) + log p(z) − log q(z|x), with σ, not σ², in q?)"
values = [iw[k] for k in KS]
assert all(b > a for a, b in zip(values, values[1:])), "the bound should tighten (grow) as k grows"

# %%
gains = [b - a for a, b in zip(values, values[1:])]
print("gain per tenfold k:", ", ".join(f"{g:.2f}" for g in gains), "nats")
assert all(b < a for a, b in zip(gains, gains[1:])), "the prose: here each tenfold of k gains less (typical, not a law)"

# %% [markdown]
# At k = 1 the bound is the ELBO, up to noise. Each tenfold of k buys less, but the gains shrink slowly. Why? The
# **effective sample size** of the k weights, ESS = (Σwᵢ)²/Σwᵢ², is k if all weights are equal and 1 if one weight
# holds everything.

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
# **Ours trails theirs by 5.25 nats** at the same k. Both are lower bounds, so part of the gap could be what
# k = 5000 misses (Optional: [How far below log p(x) is k = 5000?](#How-far-below-log-p(x)-is-k-=-5000?)). Much
# else differs:
#
# | | ours | Burda et al. |
# |---|---|---|
# | networks | the Model section's (printed) | 2 × 200 tanh units each way, 50 latent dimensions |
# | training | notebook 05's recipe (printed), 60,000 images | 3,280 epochs, batches of 20, 59,600 images |
# | binarization | training: a new random draw each epoch; test: one fixed draw | training: the same; test: one fixed draw, not ours |
#
# Our recipe was picked on test images (Optional: Did the recipe favour β = 1?). Our ± covers test images, not
# seeds; our two rows (other k, other images) agree within it. That ± is several times each paired gain's ± in
# the k table: pairing removes the spread from image to image (Exercise 2).

# %% [markdown]
# **Exercise 2 (3 min).** Write `paired_gain(after, before)`: from two scores of the same N images, return the
# mean of after − before and its standard error (the differences' sd over √N). For `iw_per_image[KS[-1]]` against
# `iw_per_image[KS[-2]]`, compare it with two independent means' error, √((s²_after + s²_before)/N). Which is
# right here, and why is it smaller?

# %% tags=["nbval-check-output"]
def paired_gain(after, before):
    raise NotImplementedError  # your code here


vae_lite.check.paired_gain(paired_gain);

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution: the differences image by image first. log p(x) varies by tens of nats between images; in the
# differences that cancels, and only how the gain varies is left. Two independent means carry both spreads.
def paired_gain(after, before):
    differences = after - before
    return differences.mean().item(), (differences.std() / math.sqrt(len(differences))).item()


assert vae_lite.check.paired_gain(paired_gain), "the solution should pass every case"
after, before = iw_per_image[KS[-1]], iw_per_image[KS[-2]]
last_gain, paired_error = paired_gain(after, before)
print(f"k = {KS[-1]} over k = {KS[-2]}: {last_gain:+.2f} ± {paired_error:.2f} nats, paired; "
      f"± {math.sqrt((after.var() + before.var()) / len(after)):.2f} as two independent means")

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

# %% jupyter={"source_hidden": true}
nats = sorted(-score["elbo"] for score in scores.values())
assert data.name != "mnist" or min(b - a for a, b in zip(nats, nats[1:])) > 5, \
    "the prose: the three scores are over five nats apart"
assert data.name != "mnist" or -scores["thresholded at ½"]["elbo"] < BURDA_VAE_NLL < -test["elbo"], \
    "the prose: thresholded, our −ELBO is below Burda et al.'s IW NLL; binarized at random, above"

# %% [markdown]
# One model, three numbers over five nats apart. Thresholding removes the stray pixels of a random draw, so the
# images are easier: there our small model's −ELBO is below Burda et al.'s IW NLL. It is not a better model.

# %% [markdown]
# ### β: rate against distortion
#
# Weight the KL by β and minimise D + βR (the β-VAE; Higgins et al., 2017). The **distortion** D = −E_q[log p(x|z)]
# is the reconstruction error. The **rate** R = KL(q(z|x) ‖ p(z)), averaged over the data, is what the code
# carries: an upper bound on I_q(x; z), the mutual information between an image and its code z ~ q(z|x) (Alemi et
# al., 2018). R + D is the −ELBO: β = 1 is the VAE.
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
fmt = lambda values, digits=1: f"{mean(values):6.{digits}f} ± {sd(values):.{digits}f}"
print(f"{sweep['dataset']} models, {sweep['test_images']} test images; mean ± sd over seeds {sorted({r['seed'] for r in runs})}")
print(f"{'β':>5} {'rate R':>12} {'distortion D':>12} {'−ELBO = R + D':>14}   active units")
for beta, *values in zip(BETAS, *map(column, ("rate", "distortion", "neg_elbo", "active"))):
    print(f"{beta:5g} {fmt(values[0])} {fmt(values[1])} {fmt(values[2], 2):>14}   {', '.join(map(str, values[3]))}")
print(f"D₀ (a decoder that ignores z: the mean image) = {sweep['mean_image_distortion']:.1f} nats")

# %% [markdown]
# As β grows the code carries less, towards nothing (**posterior collapse**). A decoder that ignores z gives every
# image the same pixel probabilities, at best the mean image: D₀ uses the mean training image.

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
# Left: a larger β buys a lower rate with more distortion. The dashed line marks the least −ELBO: β = 1's. Only
# β = 1 trains on the ELBO itself, so it should win; it leads the next β by about 4 nats (printed). The recipe was
# tuned at β = 1, so the βs are not quite like for like (Optional: Did the recipe favour β = 1?).
#
# Right: dimensions switch off as β grows (partial collapse); at the largest β the seeds differ in active units.

# %% [markdown]
# ## Summary
# - 𝓛_k tightens with k by ever smaller gains, carried by a few weights (a small ESS): k = 5000 is a convention,
#   not log p(x).
# - Compare numbers on the same images, binarized the same way, and pair them image by image; say what else differs.
# - β trades rate against distortion; a large β switches dimensions off. β = 1, trained on the ELBO, wins on it.
#
# Next: [09 The paper, reproduced](09_paper_reproduced.ipynb).

# %% [markdown]
# ## Optional: more on β, on the bound, and on larger models
#
# Each group needs only the core. Minutes are class time at the core's pace.
#
# **On β**, for home or a class with time left:
# - [Why the rate–distortion curve bends](#Why-the-rate–distortion-curve-bends), 2 min: each model's exchange rate.
# - [Did the recipe favour β = 1?](#Did-the-recipe-favour-β-=-1?), 5 min: the recipe screens against β = 1's lead.
# - [What β does to samples and reconstructions](#What-β-does-to-samples-and-reconstructions), 4 min: four βs.
# - [Exercise 3: does a strong decoder cause posterior collapse?](#Exercise-3:-does-a-strong-decoder-cause-posterior-collapse?), 6 min: a discussion.
#
# **On the bound**, a second class of 55 min, in this order:
# - [Your estimator on real images](#Your-estimator-on-real-images), 3 min: Exercise 1's function against the package's.
# - [Which weights carry the estimate](#Which-weights-carry-the-estimate), 4 min: a few weights hold most of each sum.
# - [Why 𝓛_k grows with k, and where it ends](#Why-𝓛_k-grows-with-k,-and-where-it-ends), 3 min: Burda et al.'s proof.
# - [Why Var(w) is infinite here](#Why-Var(w)-is-infinite-here), 6 min: narrow posteriors, and a heuristic tail law.
# - [𝓛_k against a known log p(x)](#𝓛_k-against-a-known-log-p(x)), 11 min: the tail law tested on a toy.
# - [How far below log p(x) is k = 5000?](#How-far-below-log-p(x)-is-k-=-5000?), 14 min: an extrapolation.
# - [Exercise 4: the next step of k](#Exercise-4:-the-next-step-of-k), 14 min: measure it, and test the extrapolation.
#
# **On larger models**, for home:
# - [Half an hour of CPU time, next to the published numbers](#Half-an-hour-of-CPU-time,-next-to-the-published-numbers), 31 min: where the ELBO and the IW NLL disagree.

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
# ### Exercise 3: does a strong decoder cause posterior collapse?
#
# **Exercise 3 (5 min).** Discuss. "A strong decoder can model x without z" is a common explanation of posterior
# collapse. It holds for an *autoregressive* decoder, which predicts each part of x from the parts before it and z
# (an LSTM over words, Bowman et al., 2016; a PixelCNN over pixels, Chen et al., 2017). Does it hold for ours,
# one Bernoulli per pixel given z, however large the MLP or conv net? What would ours lose by ignoring z?

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution. No. Given z, our decoder's pixels are independent, so a decoder that ignores z gives every image the
# same pixel probabilities, however many layers it has: the best of those is the mean of the images scored, and
# D₀ (the mean training image) comes close to it. Ignoring z costs about the difference printed below, per image,
# or more (more against log p(x), which the −ELBO underestimates).
# So on data whose pixels depend on each other, as MNIST's do, a factorised decoder cannot make z useless at the
# optimum; a latent dimension switches off when what it adds to the reconstruction is worth less than the KL it
# costs, and β sets that price (the sweep).
# Where else collapse comes from: Lucas et al. (2019) show that in a linear Gaussian VAE the ELBO adds no local
# maxima that log p(x) lacks, so collapse there comes from the model (its observation noise), not from the bound.
# Optimisation is another source: He et al. (2019) find that early in training the encoder lags behind the true
# posterior and the model learns to ignore z (with autoregressive decoders). Neither is tested here. At home: train
# `VAE(..., decoder_hidden=[512, 512])` with notebook 05's recipe and count its active units.
beta_1 = mean(column("neg_elbo")[BETAS.index(1)])
print(f"D₀ = {sweep['mean_image_distortion']:.1f} nats against the β = 1 models' −ELBO of {beta_1:.1f} nats: "
      f"ignoring z would cost about {sweep['mean_image_distortion'] - beta_1:.0f} nats per image, or more")

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
#
# For a power-law tail, P(w > t) falling like t^(−α) with 1 < α < 2 (so Var(w) is infinite), a scaling argument
# suggests another, the **tail law**: the shortfall falls like k^(1−α). The mean of k weights misses p(x) by a
# relative error ε of typical size c = k^(1/α − 1) (the generalised central limit theorem: a stable law in place of
# the normal; Gnedenko & Kolmogorov, 1954). As E ε = 0, the shortfall is E[ε − log(1 + ε)], which grows like ε²/2
# for small ε and like ε for large ε; against ε's tail, P(ε > u) ≈ (u/c)^(−α), both parts come to c^α = k^(1−α).
# This is a heuristic, not a theorem: a limit in distribution does not by itself fix an expectation, and we prove
# nothing more. The next section tests it on a toy whose tail is known; for our model it stays an assumption.

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
# −0.49 (printed, class mode). So where the tail is known, the law gets the slope to within a tenth (asserted). The
# toy cannot give our model's α: the next section reads one off our last two gains.

# %% [markdown]
# ### How far below log p(x) is k = 5000?
#
# An extrapolation. No larger k shows what k = 5000 misses, so assume: the shortfall $S_u$ = log p(x) − 𝓛_k at
# k = K·10ᵘ (K our largest k) shrinks by a factor r per tenfold, as the tail law's k^(1−α) does with r = 10^(1−α).
# Then each tenfold gains r times the one before. Take r from the core's last two gains (the last, g, over the one
# before); the printed ± is a bootstrap over the images. After the last gain g
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
    boot_step = boot_s0 * (1 - boot_r ** decades)  # S_0 − S_t on each resample
    print(f"  k = {KS[-1]} → 5000 (t = {decades:.2f}) adds about {to_5000:.2f} ± {boot_step.std():.2f} nats, leaving "
          f"about {beyond_5000:.2f} at k = 5000")
    print(f"if the gains stopped shrinking instead, k = {KS[-1]} → 5000 would add {gains[-1] * decades:.2f} "
          f"± {(last * decades).std():.2f} nats")
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

# %%
import re  # to read notebook 10's stored output

# notebook 10 (part 4), on this same model: a better proposal's log p(x) against the encoder's, from its stored run
stored_10 = json.loads((RESULTS.parent / "notebooks" / "10_loose_bound.ipynb").read_text())
said = "".join(text for cell in stored_10["cells"] for out in cell.get("outputs", []) for text in out.get("text", ""))
k_10 = int(re.search(r"log p\(x\) with k = (\d+) samples", said).group(1))
elbo_10 = float(re.search(r"default VAE: .* test negative ELBO ([\d.]+) nats", said).group(1))  # its model's
better, better_error, images_10 = map(float, re.search(r"\[J\] the mixture's minus the encoder's: ([+-][\d.]+) ± "
                                                       r"([\d.]+) nats \(paired over the images; higher on \d+ of (\d+)\)",
                                                       said).groups())
print(f"notebook 10's stored run, the first {images_10:.0f} test images, k = {k_10:,}: a better proposal's estimates "
      f"lie {better:+.2f} ± {better_error:.2f} nats above the encoder's")
assert k_10 == 40_000 and images_10 == 40 and 0.4 < better < 0.7 and 0.05 < better_error < 0.15, \
    "the prose: notebook 10, 40 images, k = 40,000: about half a nat (± a tenth) above the encoder's"
assert data.name != "mnist" or QUICK or abs(elbo_10 + test["elbo"]) < 0.01, \
    "the prose: notebook 10's part 4 scored this same model (the same test −ELBO as the Model section's)"
if data.name == "mnist" and to_5000 is not None:
    print(f"the law would leave {shortfall(math.log10(k_10 / KS[-1])):.2f} nats at k = {k_10:,}")
    assert QUICK or shortfall(math.log10(k_10 / KS[-1])) < better / 2, \
        "the prose: at k = 40,000 the law leaves under half of what notebook 10's better proposal finds"

# %% [markdown]
# So if the law held, k = 5000 would sit a few tenths of a nat below log p(x) for this model, give or take a quarter
# of a nat (the bootstrap ± of the series). That is a floor, not a measurement, and probably too low. Notebook 10
# (part 4) fits a better proposal to each of the first 40 test images of this same model: its estimates lie about
# half a nat (± a tenth) above the encoder's even at k = 40,000, where the law would leave under half of that (both
# printed). Those are other images than ours, so the comparison is rough.
#
# The extrapolation assumes our weights keep, past k = 1000, the α of our last two gains. Further out their tail
# is heavier: along a latent dimension where q has variance σ², p(z)/q(z|x) alone gives α = 1/(1 − σ²) (the toy
# with ρ = σ²), and every test image has a dimension where that is at most 1.07 (printed in Why Var(w) is
# infinite). Once draws reach so far, the gains shrink far more slowly. Exercise 4 measures the next step;
# agreeing with the law there says nothing of the tail further out, and a larger k never shows how much is left.
#
# An upper bound would settle it. Annealed importance sampling (samples moved through a chain of distributions from
# p(z) to p(z|x)), run in reverse from an exact posterior sample, bounds log p(x) from above in expectation; such
# samples exist only for data simulated from the model (bidirectional Monte Carlo, which pairs this upper bound with
# the usual lower one; Grosse et al., 2015).

# %% [markdown]
# ### Exercise 4: the next step of k
#
# **Exercise 4 (10 min).** Take the next step of k yourself. Estimate log p(x) with k = 5000 and with k = 1000 on
# the same 200 of the random test images (`vae_lite.iw_log_likelihood`), and get the gain and its standard error
# with your `paired_gain` (Exercise 2). The extrapolation cell printed that step under two scenarios, each with a
# bootstrap ±: the gains per tenfold k keep shrinking by the same ratio, or they stop shrinking. Which one does your
# measurement favour, and by how many standard errors? The next cell checks your gain and its standard error for
# three likely mistakes: the wrong sign, the wrong baseline, and an unpaired standard error.

# %%
gain = gain_error = None  # yours: the mean of (k = 5000) − (k = 1000), image by image, and its standard error


def check_gain(gain, gain_error):
    """Exercise 4's check: a gain not below 0 (within noise), under the last tenfold's, with a paired standard error
    (on MNIST); not which scenario is right."""
    if gain is None:
        return print("Exercise 4 not done yet")
    assert gain > -2 * gain_error, \
        "a larger k should not score lower: subtract the k = 1000 estimate from the k = 5000 one"
    assert gain < gains[-1], "k = 1000 → 5000 is under one tenfold, so it should add less than the last tenfold " \
        f"did ({gains[-1]:.2f} nats): subtract the k = 1000 estimate, not the ELBO's or a smaller k's"
    assert data.name != "mnist" or 0.02 < gain_error < 0.3, f"± {gain_error:.2f} nats is no paired standard error " \
        "on MNIST: take the differences image by image first (log p(x) varies by tens of nats between images), then " \
        "their sd / √n (not / n)"
    print(f"{gain:+.2f} ± {gain_error:.2f} nats: passes the checks of the sign, the baseline and (on MNIST) the pairing")


check_gain(gain, gain_error)

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution: the two estimates on the same images and their paired difference (Exercise 2), next to both scenarios
# for the same step (t = log10(5) tenfolds). (In quick mode: 100 images, k = 100 → 500.)
small_k, large_k, images = KS[-1], 5 * KS[-1], x[:200]
torch.manual_seed(1)
gain, gain_error = paired_gain(vae_lite.iw_log_likelihood(model, images, k=large_k),
                               vae_lite.iw_log_likelihood(model, images, k=small_k))
print(f"k = {small_k} → {large_k} on {len(images)} images: {gain:+.2f} ± {gain_error:.2f} nats")
check_gain(gain, gain_error=gain_error)
if to_5000 is not None:
    t = math.log10(large_k / small_k)
    shrink = lambda g1, g2: g1 * (g1 / g2) * (1 - (g1 / g2)**t) / (1 - g1 / g2)  # the last two gains → the next step
    scenarios = {"gains shrink by the ratio r": shrink(gains[-1], gains[-2]), "gains stop shrinking": gains[-1] * t}
    # the scenarios' own error, as the extrapolation cell's: 1,000 resamples (with replacement) of the images
    resample = torch.randint(len(x), (1000, len(x)), generator=torch.Generator().manual_seed(2))  # of the images
    bound = [iw_per_image[k][resample].mean(dim=1) for k in KS[-3:]]  # (1000,) each
    last, before = bound[2] - bound[1], bound[1] - bound[0]
    ok = (last > 0) & (last < before)  # the resamples whose gains shrink, as the extrapolation cell keeps
    scenario_error = {"gains shrink by the ratio r": shrink(last[ok], before[ok]).std().item(),
                      "gains stop shrinking": (last * t).std().item()}
    for name, value in scenarios.items():
        error = math.hypot(gain_error, scenario_error[name])  # as if independent: they share images, so approximate
        print(f"  {name:28s} {value:+.2f} ± {scenario_error[name]:.2f} nats: the measurement is "
              f"{round((gain - value) / error, 1) + 0.0:+.1f} standard errors away (errors combined)")
    nearer = min(scenarios, key=lambda name: abs(gain - scenarios[name]))
    print(f"nearer: {nearer!r} (for this one step only, not for the tail beyond it)")

# %% [markdown]
# ### Half an hour of CPU time, next to the published numbers
#
# Burda et al.'s VAE trained for 3,280 epochs. What do **30 CPU-minutes** buy, and do the ELBO and the IW NLL rank
# the results alike? `benchmarks/frontier.py` trained three models for that long (one stochastic layer, a diagonal
# Gaussian q(z|x), the N(0, I) prior); every row estimates −log p(x) with k = 5000 on **all** 10,000 test images.
# Too long for class: the cells read the stored results.
# - row 2, `mnist_best.pt`: networks 784-512-512-50 with ReLU, trained on the ELBO with the KL warmed up over the
#   first 10 epochs;
# - row 3: the same networks trained to maximise L₅ (𝓛_k with k = 5) instead of the ELBO: the importance-weighted
#   autoencoder (IWAE; notebook 10), with the same recipe but no KL warm-up;
# - row 4: Burda et al.'s own networks, 784-200-200-50 with tanh, with their objective (the plain ELBO).

# %% [markdown]
# <details><summary>What else differs, row by row</summary>
#
# - **Every row:** one seed (the ± is over test images, not seeds), our binarization of the test set, and its own
#   encoder as the proposal (the distribution the z are drawn from).
# - **Rows 1 to 3: the recipes were picked on test images** (the −ELBO on all 10,000, the IW NLL on the first
#   1,000), rows 2–3's for the VAE with 784-512-512 ReLU networks; none was tuned for L₅. Row 4's KL warm-up was
#   chosen on held-out training images, and row 4 scored the test set once. On images 1,001 to 10,000, which no IW
#   NLL screen saw, rows 2 to 4 keep their order and row 2 is still below Burda et al.'s VAE (printed).
# - **The half hours are not equal:** row 4 ran on a processor that did a fixed reference workload about twice as
#   fast per CPU-second (printed), did no scoring of the test set inside its timed training, and took over four
#   times row 2's Adam steps (the steps column). Even on one host a CPU-second varies by tens of percent (printed).
#   Against Burda et al.: far fewer epochs and Adam steps, batches of 128 against 20, a one-cycle schedule
#   (notebook 05).
#
# The processors: the collapsed cell after the table; the commands behind each row: `benchmarks/README.md`.
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
print("IW NLL: k = 5000, all 10,000 test images; gap = −ELBO − IW NLL ≈ KL(q(z|x) ‖ p(z|x)), differing by model")
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
# The numbers of the details above: row 4's held-out warm-up screen, the processors, CPU-seconds on one host.
screened = [run for name, run in frontier.items() if name.startswith("val-burda")]  # row 4's warm-up screen
reference_seconds = {name: sum(run["reference_cpu_seconds_before_after"]) / 2
                     for name, run in [(BEST, best), (BURDA_NETWORKS, burda_networks)]}
same_work = full_best["cpu_seconds"] / full_on_l5["cpu_seconds"]  # rows 2 and 3: the same networks, k, images
print(f"processors: {burda_networks['machine']['processor']} for row 4, {best['machine']['processor']} for row 2; the "
      f"reference workload took {reference_seconds[BURDA_NETWORKS]:.2f} and {reference_seconds[BEST]:.2f} CPU s")
print(f"rows 2 and 3 did the same evaluation work, yet one took {same_work:.1f} times the other's CPU time")
assert screened and all(run["scored_on"] == "validation" for run in screened) \
    and not any("test_neg_elbo" in epoch for epoch in burda_networks["epochs"]), \
    "the details: row 4's warm-up was chosen on held-out images, and no test images were scored in its training"
assert 1.5 < reference_seconds[BEST] / reference_seconds[BURDA_NETWORKS] < 3 and same_work > 1.2, \
    "the details: row 4's processor about twice as fast; CPU-seconds on one host vary by tens of percent"

# %%
# both estimates used the same test images and the same noise: compare the two models image by image
log_px = {name: torch.cat(torch.load(RESULTS / f"{name}.iw.pt", weights_only=True)["chunks"])
          for name in (BEST, BEST_ON_L5, BURDA_NETWORKS)}
edge = log_px[BEST] - log_px[BEST_ON_L5]  # (10000,) nats per image by which the VAE explains it better
edge_error = edge.std().item() / len(edge) ** 0.5  # over test images only: one seed each, seed noise not in it
cost_per_epoch = {name: run["train_cpu_seconds"] / run["epochs_trained"]
                  for name, run in [(BEST, best), (BEST_ON_L5, best_on_l5)]}
print(f"an epoch on L₅ costs {cost_per_epoch[BEST_ON_L5] / cost_per_epoch[BEST]:.1f} times an ELBO epoch; KL warm-up: "
      f"{best['config']['warmup']:g} epochs for the VAE, {best_on_l5['config']['warmup']:g} for L₅")
print(f"image by image the VAE's log p(x) is {edge.mean():.2f} ± {edge_error:.2f} nats higher (± over test images)")
later = [-log_px[name][1000:].mean().item() for name in (BEST, BEST_ON_L5, BURDA_NETWORKS)]
print("rows 2 to 4, IW NLL on images 1,001 to 10,000 (no IW NLL screen saw them):",
      ", ".join(f"{nll:.2f}" for nll in later))
larger = log_px[BEST] - log_px[BURDA_NETWORKS]  # (10000,) row 2's recipe against row 4's, image by image
larger_error = larger.std().item() / len(larger) ** 0.5
print(f"row 2's log p(x) is {larger.mean():.2f} ± {larger_error:.2f} nats higher than row 4's, image by image")
seeds_at_1 = column("neg_elbo")[BETAS.index(1)]  # the β sweep: the small default recipe retrained with three seeds
seed_range = max(seeds_at_1) - min(seeds_at_1)
ranges = [max(v) - min(v) for v in column("neg_elbo")]  # the same, at every β of the sweep
print(f"a rough proxy for seed noise (another model, another metric): the default model's −ELBO spans "
      f"{seed_range:.2f} nats over {len(seeds_at_1)} seeds, {min(ranges):.2f} to {max(ranges):.2f} over the sweep's βs")
print(f"so the L₅ edge, {edge.mean():.2f} nats, is about the β = 1 proxy: cannot tell")
iwae_run = json.loads((RESULTS / "iwae.json").read_text())  # notebook 10's stored run: the same epochs for both
print(f"notebook 10's stored run, {iwae_run['config']['epochs']} epochs each, one seed: the IWAE's IW NLL is "
      f"{iwae_run['iw_nll_vae_minus_iwae']:.2f} ± {iwae_run['iw_nll_vae_minus_iwae_std_error']:.2f} nats below the VAE's "
      f"on the first {iwae_run['iw_images']:,} test images, at {iwae_run['cpu_ratio_iwae_over_vae']:.1f} times its CPU time")
assert iwae_run["iw_nll_vae_minus_iwae"] > 3 * iwae_run["iw_nll_vae_minus_iwae_std_error"], \
    "the prose: in notebook 10's run of equal epochs, the bound (the IWAE) wins"

# %%
# The −ELBO of rows 2 and 4, image by image: both checkpoints, the same binarized test images, 4 draws of z each
if data.name == "mnist":
    all_test = x_test  # all 10,000 in class mode (1,000 in quick mode)
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
#   models, and here it ranks rows 2 and 4 the other way round: image by image beyond test-image noise, but within
#   the seed ranges of the sweep (printed). With one seed each, that reversal might not survive a second seed; the
#   IW NLL's order is several times larger. The gap splits in two (Cremer, Li & Duvenaud, 2018): the best q of the
#   encoder's family still misses p(z|x) (the approximation gap), and one encoder for all x misses that best q
#   (notebook 02's amortization gap).
# - **The 784-512-512 ReLU recipe bought more** than Burda et al.'s tanh networks, image by image (printed), with
#   under a quarter of the Adam steps; it was tuned for those networks, on test images. Size, activation, warm-up,
#   tuning and epochs all differ: these runs do not say which paid.
# - **L₅ against the ELBO: no winner here.** The VAE's log p(x) is higher image by image, by about the seed-noise
#   proxy (both printed). An L₅ epoch costs over twice an ELBO epoch, and only the VAE had a KL warm-up. In
#   notebook 10's run, a VAE and an IWAE trained for the same epochs, the bound wins (printed).
# - Burda et al.'s IWAE (L₅₀, 3,280 epochs) is still ahead. The first 1,000 test images are easier for all three
#   30-minute runs (printed): say which images a number is on. Row 1's −ELBO differs from the Model section's by
#   another draw of z.

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
