# %% [markdown]
# # 07 How good is it?
#
# Previous: [06 The latent space](06_latent_space.ipynb)
#
# The ELBO is a lower bound on log p(x). How far below? How do our numbers compare with published ones,
# and what does the KL weight β trade?
#
# **Learning goals**
# - estimate log p(x) with importance sampling and see the bound tighten as the number of samples k grows;
# - place a model's numbers next to published ones, and say what differs;
# - read β as a trade-off between rate (KL) and distortion (reconstruction error);
# - see posterior collapse: latent dimensions switching off as β grows.

# %% [markdown]
# ## Setup

# %%
import math

import matplotlib.pyplot as plt
import torch

import vae_lite
import vae_lite.check
from vae_lite import latent, plots, pretrained

torch.manual_seed(0)
QUICK = vae_lite.quick_mode()  # VAE_LITE_QUICK=1: less data, fewer samples and epochs (CI)
if QUICK:  # tiny models gain nothing from a second thread, and on a busy shared CI machine
    torch.set_num_threads(1)  # two threads waiting for each other run several times slower
print("quick mode" if QUICK else "class mode")

# %% [markdown]
# ## Data
#
# Test images binarized once with a fixed seed (`vae_lite.binarized_test_set`), so every number below is
# on the same binary images: a Bernoulli likelihood is a likelihood only on binary data.

# %%
data = vae_lite.load_dataset("auto")
x_test = vae_lite.binarized_test_set(data)
IW_IMAGES, KS = (100, [1, 10, 100]) if QUICK else (500, [1, 10, 100, 1000])
print(data)

# %% [markdown]
# ## Model
# The default VAE of notebook 06 (784–400–20, 10 epochs on MNIST with dynamic binarization).

# %%
model = pretrained.default_model(data)
torch.manual_seed(0)
test = vae_lite.evaluate(model, x_test)
print(f"test negative ELBO on all {len(x_test)} test images: {-test['elbo']:.2f} nats per image")

# %% [markdown]
# ## Experiments
#
# ### The importance-weighted bound
# With k samples z₁…z_k from q(z|x) (Burda et al., 2015):
#
# $$\log p(x) \;\ge\; \mathbb{E}\Big[\log \frac1k \sum_{i=1}^k \frac{p(x|z_i)\,p(z_i)}{q(z_i|x)}\Big] \;=\; \mathcal{L}_k,
# \qquad \mathcal{L}_1 = \mathrm{ELBO} \le \mathcal{L}_{10} \le \dots \to \log p(x).$$
#
# The estimate costs k decoder passes per image, so here it runs on the first test images only (the
# cell says how many). The gap between the ELBO and log p(x) is KL(q(z|x) || p(z|x)): how far the
# encoder is from the true posterior.

# %%
x = x_test[:IW_IMAGES]
torch.manual_seed(0)
with torch.inference_mode():
    elbo_here = vae_lite.elbo(model, x, samples=100).elbo.mean().item()  # 100 samples: a precise ELBO
iw = {}
for k in KS:
    iw[k] = vae_lite.iw_log_likelihood(model, x, k=k).mean().item()
    print(f"k = {k:5d}: importance-weighted bound {iw[k]:8.2f} nats   (above the ELBO by {iw[k] - elbo_here:.2f})")
print(f"ELBO (100 samples per image):     {elbo_here:8.2f} nats   on the first {IW_IMAGES} test images")
plots.plot_iw_bound(KS, [iw[k] for k in KS], elbo_here,
                    title=f"log p(x) estimates, first {IW_IMAGES} test images")
plt.show()
values = [iw[k] for k in KS]
assert all(b > a for a, b in zip(values, values[1:])), "the bound should tighten (grow) as k grows"
assert abs(iw[1] - elbo_here) < 2, "with k = 1 the importance-weighted bound is the ELBO"

# %% [markdown]
# The gain shrinks with k: each tenfold increase of k buys less. That is why a k of 5000 is enough for
# the numbers in papers. The benchmark (`python -m vae_lite evaluate <checkpoint> --dataset mnist --k 5000`)
# runs that on all 10,000 test images; it takes minutes, too long for class.

# %%
gains = [b - a for a, b in zip(values, values[1:])]
print("gain per tenfold k:", ", ".join(f"{g:.2f}" for g in gains), "nats")
assert gains[-1] < gains[0], "each tenfold increase of k should gain less than the one before"

# %% [markdown]
# ### Next to published numbers
# Published negative log-likelihoods on MNIST, next to ours. Lower is better. They are **not** measured the
# same way, and the differences matter more than the digits:
#
# | | our default model | Burda et al. (2015), Table 1 | Kingma & Welling (2013), Fig. 2 |
# |---|---|---|---|
# | model | 1 hidden layer of 400 ReLU, 20 latent dims | VAE, one stochastic layer: 2 hidden layers of 200 tanh, 50 latent dims | 1 hidden layer of 500, several latent sizes (3 to 200) |
# | training | 10 epochs, Adam | 3,280 epochs | up to 10⁸ training images seen (about 1,700 epochs) |
# | data | dynamic binarization; test set binarized once, fixed seed | dynamically binarized MNIST | MNIST (binarization not stated in the paper) |
# | number | the cells below: ELBO on all test images, IW bound on the first few hundred with k ≤ 1000 | **86.76** nats: −log p(x) estimated with k = 5000 | the lower bound (ELBO) against training time, read off the figure |
#
# So: our model is smaller in latent size, trained about 300 times shorter, and our IW number uses
# fewer samples and images. Expect our numbers to be several nats worse, and the ELBO to be further
# from −log p(x) than the IW bound is.

# %%
BURDA_VAE_NLL = 86.76  # Burda et al. (2015), Table 1: VAE, 1 stochastic layer, k = 1 training, NLL with k = 5000
ours_elbo, ours_iw = -test["elbo"], -iw[KS[-1]]
print(f"{'':44s} nats per image")
print(f"{'ours: negative ELBO, all test images':44s} {ours_elbo:6.2f}")
print(f"{f'ours: IW NLL, k = {KS[-1]}, first {IW_IMAGES} test images':44s} {ours_iw:6.2f}")
print(f"{'Burda et al. 2015 VAE: NLL, k = 5000':44s} {BURDA_VAE_NLL:6.2f}")
assert ours_iw > BURDA_VAE_NLL - 5, "ten epochs of a smaller model should not beat 3,280 epochs by much"

# %% [markdown]
# ### β: rate against distortion
# Train the same VAE with different KL weights β (`vae_lite.fit(..., beta=β)`), on part of the training set
# for a few epochs. For each model, the **rate** is the KL (nats of information the code carries about x)
# and the **distortion** is the reconstruction error. β = 1 is the ELBO; β < 1 buys a lower distortion with a
# higher rate; β > 1 the reverse, until the code carries nothing: **posterior collapse**.
#
# Two ways to count the dimensions a model still uses: those whose KL is above 0.1 nats, and Burda et al.'s
# active units (encoder mean varying with x). After a few epochs they can disagree: a dimension's KL
# falls first, while its encoder mean still wobbles a little with x; with longer training both fall.

# %%
BETAS = [0.25, 1, 4, 16]
TRAIN, EPOCHS = (3000, 2) if QUICK else (20000, 3)
small = data.subset(train=TRAIN, test=2000)
x_small = vae_lite.binarized_test_set(small)
results = []
for beta in BETAS:
    torch.manual_seed(0)
    beta_model = vae_lite.VAE(small.image_shape, latent_dim=20, hidden=400)
    vae_lite.fit(beta_model, small, epochs=EPOCHS, beta=beta, progress=False)
    scores = vae_lite.evaluate(beta_model, x_small)
    active, _ = latent.active_units(beta_model, small)
    informative = int((latent.kl_per_dimension(beta_model, small) > 0.1).sum())
    with torch.inference_mode():
        samples = beta_model.sample(10, generator=torch.Generator().manual_seed(0))
    results.append(dict(beta=beta, rate=scores["kl"], distortion=-scores["reconstruction"], active=active,
                        informative=informative, samples=samples))
    print(f"beta = {beta:3g}: rate {scores['kl']:5.1f} nats, distortion {-scores['reconstruction']:6.1f} nats, "
          f"negative ELBO {-scores['elbo']:6.1f}; dimensions with KL > 0.1 nats: {informative:2d}, "
          f"active units: {active:2d} (of 20)")

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=90)
plots.plot_rate_distortion([r["rate"] for r in results], [r["distortion"] for r in results],
                           [f"β={r['beta']:g}" for r in results], ax=left, title="rate against distortion")
right.plot(BETAS, [r["informative"] for r in results], marker="o", label="KL > 0.1 nats")
right.plot(BETAS, [r["active"] for r in results], marker="s", linestyle="--", label="active: Cov(E[z|x]) > 0.01")
right.set_xscale("log", base=2)
right.set_xlabel("β")
right.set_ylabel("latent dimensions (of 20)")
right.set_ylim(0, 21)
right.legend(fontsize=8)
right.set_title("posterior collapse as β grows", fontsize=10)
fig.tight_layout()
plt.show()
plots.show_rows({f"β = {r['beta']:g}": r["samples"] for r in results}, ncols=10)
plt.show()
rates = [r["rate"] for r in results]
assert all(b < a for a, b in zip(rates, rates[1:])), "a larger beta should give a lower rate (KL)"
distortions = [r["distortion"] for r in results]
assert distortions[-1] > distortions[0], "a larger beta should give a higher distortion"
assert results[-1]["informative"] < results[0]["informative"], "fewer dimensions should carry information as beta grows"

# %% [markdown]
# ## Common mistakes
#
# > **Common mistake.** Writing the bound as `log(x) ≥ ELBO`. **Wrong:** log(x) is the log of an image.
# > **Right:** log **p(x)** ≥ ELBO: the left side is the log-evidence, the log-probability the model gives
# > the image. The estimates above are estimates of log p(x); every one of them sits above the ELBO.
#
# > **Common mistake.** Comparing ELBOs measured on differently binarized data. **Wrong:** putting the
# > "loss" printed by a script that scores grey-scale pixels with binary cross-entropy next to a negative
# > ELBO on binary images. **Right:** compare numbers only on the same data, binarized the same way. The same
# > model, scored both ways, differs by several nats: more than many published improvements.

# %%
torch.manual_seed(0)
grey = vae_lite.evaluate(model, data.test)
print(f"negative ELBO on binarized test images:  {-test['elbo']:.1f} nats   (a bound on -log p(x))")
print(f"the same formula on grey-scale images:   {-grey['elbo']:.1f} nats   (not a likelihood: x is not binary)")
print(f"difference: {grey['elbo'] - test['elbo']:+.1f} nats, for the same model and the same test digits")
assert abs(grey["elbo"] - test["elbo"]) > 2, "the two ways of scoring should differ by several nats"

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

# %% tags=["solution"] jupyter={"source_hidden": true}
# NBVAL_CHECK_OUTPUT
# Solution: log-sum-exp over the k samples (stable: torch subtracts the maximum), minus log k.
def log_mean_exp(log_weights):
    return torch.logsumexp(log_weights, dim=0) - math.log(len(log_weights))


assert vae_lite.check.log_mean_exp(log_mean_exp), "the solution should pass every case"

# %% [markdown]
# More to try:
#
# 1. Rerun the importance-weighted cell with k = 5000 on 100 images. How much does it gain over k = 1000?
# 2. Make the decoder stronger (`hidden=[400, 400]`, or `arch="conv"`) and train at β = 1. Do more or fewer
#    latent dimensions stay active? (A strong decoder can model x without z, another road to collapse.)
# 3. Where on the rate–distortion curve would you pick a model to *generate* digits, and where to *compress* them?
#
# ## Summary
# - The ELBO is a lower bound on log p(x); the importance-weighted bound tightens with k, with diminishing
#   gains; the gap measures how far q(z|x) is from the true posterior.
# - Published numbers differ in architecture, training length, binarization and estimator: say which.
# - β trades rate against distortion; a large β switches latent dimensions off (posterior collapse).
