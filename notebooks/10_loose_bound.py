# %% [markdown]
# # 10 Where the bound is loose
#
# Previous: [09 The paper, reproduced](09_paper_reproduced.ipynb) · Next: [11 The conditional VAE](11_conditional_vae.ipynb)
#
# Notebook 02 proved log p(x) = ELBO(q) + KL(q(z|x) ‖ p(z|x)): the ELBO falls short of log p(x) by
# exactly how far q is from the true posterior. This notebook takes that gap apart. Where does it come from,
# what closes it, what does closing it cost, and is the ELBO to blame when latent dimensions switch off?
#
# **Learning goals**
# - Compute an exact posterior on a grid, and see the best Gaussian q lock onto one of its two modes,
#   leaving a gap that no Gaussian can close.
# - See the importance-weighted bound close that gap as k grows, and see why its proposal matters.
# - Split an MNIST model's gap into the **approximation gap** and the **amortization gap** (Cremer, Li &
#   Duvenaud, 2018).
# - Compare the IWAE objective (Burda et al., 2015) with the ELBO on the same networks and budget, and
#   read what it costs.
# - Derive with sympy that the linear VAE is probabilistic PCA, and that its surplus latent dimensions
#   collapse exactly to the prior (Lucas et al., 2019).

# %% [markdown] tags=["badges"]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-lite/vae_lite/blob/main/notebooks/10_loose_bound.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/vae-lite/vae_lite/main?labpath=notebooks%2F10_loose_bound.ipynb)

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
import json
import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import sympy as sp
import torch
from IPython.display import Math, display
from scipy import integrate
from torch.distributions import MultivariateNormal, Normal

import vae_lite
import vae_lite.check
from vae_lite import objectives, plots, pretrained
from vae_lite import symbolic
from vae_lite import IWAE

QUICK = vae_lite.setup_notebook()
torch.set_num_threads(1)  # every tensor here is small: a second thread would mostly wait (as in notebook 01)

# %% [markdown]
# ## Data
#
# The test images, binarized once with a fixed seed (`vae_lite.binarized_test_set`), so every number is
# measured on the same binary images. `VAE_LITE_DATASET` picks the data set (MNIST when it is available).

# %%
data = vae_lite.load_dataset()
if QUICK:  # on data with no shipped model, the default model is trained here: on fewer images
    data = data.subset(train=3000, test=1000)
x_test = vae_lite.binarized_test_set(data)
print(data)

# %% [markdown]
# ## Model
#
# Three models, one per part of the notebook:
#
# 1. **A toy with one latent number,** small enough to compute everything on a grid:
#    z ~ N(0, 1) and x | z ~ N(z², 0.5²). The decoder squares z, so z and −z explain an observation
#    equally well: the posterior p(z | x) has two modes.
# 2. **The package's default VAE** (`vae_lite.pretrained.default_model`), for the gaps on real images.
# 3. **The linear VAE** (a linear decoder with Gaussian noise), in the last part, where sympy can solve
#    everything.

# %%
X_OBSERVED, NOISE_STD = 1.5, 0.5


def log_joint(z):
    """log p(x, z) = log N(z; 0, 1) + log N(x; z², 0.5²) at the observed x = 1.5."""
    z = torch.as_tensor(z, dtype=torch.float64)
    return Normal(0.0, 1.0).log_prob(z) + Normal(z**2, NOISE_STD).log_prob(torch.tensor(X_OBSERVED))


model = pretrained.default_model(data)
torch.manual_seed(0)
print(f"default VAE: hidden layers {list(model.encoder_hidden)} (encoder) and {list(model.decoder_hidden)} (decoder), "
      f"{model.latent_dim} latent dimensions; "
      f"test negative ELBO {-vae_lite.evaluate(model, x_test)['elbo']:.2f} nats per image")

# %% [markdown]
# ## Experiments
#
# ### 1. A posterior that no Gaussian fits
#
# On a grid of 20,001 points from −5 to 5 (the density beyond is below e⁻¹⁰), log p(x) = log ∫ p(x, z) dz is a sum, and the posterior is
# p(z|x) = p(x, z) / p(x) at every grid point. No sampling, no bound: these are the exact values (checked
# against scipy's adaptive quadrature).

# %%
# NBVAL_CHECK_OUTPUT
z = torch.linspace(-5, 5, 20_001, dtype=torch.float64)
dz = (z[1] - z[0]).item()
log_px = (torch.logsumexp(log_joint(z), dim=0) + math.log(dz)).item()  # log of the Riemann sum of p(x, z)
posterior = (log_joint(z) - log_px).exp()
quadrature, _ = integrate.quad(lambda t: math.exp(log_joint(t)), -10, 10, points=[-1.1, 1.1])  # beyond ±10: < e^-50
print(f"log p(x = {X_OBSERVED}) = {log_px:.6f} on the grid, {math.log(quadrature):.6f} by scipy's quadrature")
modes = z[1:-1][(posterior[1:-1] > posterior[:-2]) & (posterior[1:-1] > posterior[2:])]  # local maxima
print(f"posterior modes at z = {[round(m, 3) for m in modes.tolist()]}; "
      f"mass on z > 0: {(posterior * dz)[z > 0].sum().item():.4f}")
assert abs(log_px - math.log(quadrature)) < 1e-6, "the grid's log p(x) should equal the quadrature's"

# %% [markdown]
# **Predict, then run.** The posterior has two equal modes (printed above). Among all Gaussians
# q = N(μ, σ²), which has the largest ELBO: a wide one centred at 0 that covers both modes, or a narrow one
# on one mode? And how far below log p(x) will its ELBO be?
#
# The ELBO of a Gaussian is an integral over the same grid: ELBO(q) = ∫ q(z) [log p(x, z) − log q(z)] dz.
# L-BFGS maximises it from several starting points.

# %%
def grid_elbo(mu, log_sigma):
    log_q = Normal(mu, log_sigma.exp()).log_prob(z)
    return (log_q.exp() * (log_joint(z) - log_q)).sum() * dz


def best_gaussian_on_grid(mu, sigma):
    params = torch.tensor([mu, math.log(sigma)], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([params], max_iter=200, tolerance_grad=1e-10, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = -grid_elbo(params[0], params[1])
        loss.backward()
        return loss

    optimizer.step(closure)
    mu, log_sigma = params.detach()
    # round away the last bits, which differ between CPUs: they decide the sign of a mean that is 0,
    # and which of the two mirror-image optima ranks first
    return round(mu.item(), 6) + 0.0, round(log_sigma.exp().item(), 6), round(grid_elbo(mu, log_sigma).item(), 8)


# %%
# NBVAL_CHECK_OUTPUT
fits = {start: best_gaussian_on_grid(*start) for start in [(-2.0, 1.0), (-0.3, 1.0), (0.0, 2.0), (0.5, 0.5), (2.0, 1.0)]}
for (mu0, sigma0), (mu, sigma, elbo) in fits.items():
    print(f"start N({mu0:+.1f}, {sigma0:.1f}^2) -> N({mu:+.3f}, {sigma:.3f}^2), ELBO {elbo:.4f}")
q_mu, q_sigma, q_elbo = max(fits.values(), key=lambda fit: (fit[2], fit[0]))  # of two mirror images, the one at z > 0
gap = log_px - q_elbo
log_q = Normal(q_mu, q_sigma).log_prob(z)
kl_to_posterior = (log_q.exp() * (log_q - (log_joint(z) - log_px))).sum().item() * dz  # KL(q* || p(z|x)) on the grid
middle = [fit for fit in fits.values() if abs(fit[0]) < 0.01]
print(f"best Gaussian q* = N({q_mu:+.3f}, {q_sigma:.3f}^2): log p(x) - ELBO(q*) = {gap:.4f} nats, "
      f"KL(q* || p(z|x)) = {kl_to_posterior:.4f} nats (log 2 = {math.log(2):.4f})")
print(f"the Gaussian in the middle, N(0, {middle[0][1]:.3f}^2), has an ELBO lower by {q_elbo - middle[0][2]:.3f} nats")
other_side = Normal(abs(q_mu), q_sigma).cdf(torch.tensor(0.0)).item()  # q*'s mass on the far side of 0
print(f"q* puts {other_side:.1e} of its mass on the other mode's side of 0")
assert other_side < 0.01, "the best Gaussian should lock onto one mode, with almost no mass on the other side"
assert middle and q_elbo - middle[0][2] > 0.5, "the wide Gaussian in the middle should be clearly worse than q*"
assert abs(gap - kl_to_posterior) < 1e-6, "log p(x) - ELBO must equal KL(q || p(z|x)) (notebook 02)"
assert math.log(2) < gap < math.log(2) + 0.1, "q* should miss one of two equal halves: a gap of log 2 and a little"

# %%
prior = Normal(0.0, 1.0).log_prob(z).exp()
plots.plot_posterior_and_gaussians(z, posterior, {f"best Gaussian q* = N({q_mu:.2f}, {q_sigma:.2f}²)": (q_mu, q_sigma),
                                                  f"the worse one in the middle, N(0, {middle[0][1]:.2f}²)": (0.0, middle[0][1])},
                                   prior=prior, title=f"exact posterior p(z | x = {X_OBSERVED}) and the best Gaussian")
plt.xlim(-3, 3)
plt.show()

# %% [markdown]
# *Figure: the exact posterior has two equal bumps, one each side of 0; the best Gaussian is a narrow bell over one
# of them and nearly zero over the other; the dashed Gaussian in the middle spreads over both and over the dip
# between them; the prior is a wide dotted bell centred at 0.*
#
# Starts well to one side of 0, or narrow ones, end on a mode. Wide starts at or near 0 end at 0 (at exactly 0
# the pull of the two modes cancels by symmetry; the start at −0.3 slides back there too) and find a wide
# Gaussian in the middle, over both modes: a stationary point of the ELBO, but a worse one, by the
# amount printed. The ELBO punishes q for putting mass where the posterior has little (between the modes) more
# than for missing a mode altogether. That is KL(q ‖ p) at work: it is an average **under q**. The gap is log 2 plus a little: q covers one of two equal halves of the posterior, and
# half of the probability is log 2 nats (the rest of the gap is the bump's shape, which is not quite
# Gaussian). Only a richer q, say a mixture of two Gaussians, could close it.
#
# ### 2. The importance-weighted bound closes the gap, if its proposal reaches both modes
#
# Notebook 02's [Jensen section](02_elbo.ipynb) showed log E_q[w] ≥ E_q[log w] for the weights
# w = p(x, z)/q(z): the log of an average beats the average of the logs. Averaging **k** weights inside the log
# gives a bound between the two, the importance-weighted bound of [notebook 08](08_how_good.ipynb):
#
# $$\mathcal{L}_k = \mathbb{E}\Big[\log \frac1k \sum_{i=1}^k \frac{p(x, z_i)}{q(z_i)}\Big],\qquad z_i \sim q,
# \qquad \mathrm{ELBO} = \mathcal{L}_1 \le \mathcal{L}_2 \le \dots \le \log p(x).$$
#
# **Predict, then run.** With q* (the best Gaussian, on one mode) as the proposal, how large must k be to
# close the gap printed above?
#
# Two proposals below, each L_k estimated from many independent repeats (with its standard error): q*, and
# for each k the Gaussian that maximises L_k itself (found by L-BFGS on fixed random numbers, then scored on
# fresh ones). Training with L_k as the objective, as the IWAE does in part 4, looks for the second.

# %%
KS = [1, 2, 5, 10, 30, 100, 1000]
SAMPLES = 100_000  # per k: repeats x k draws


def iw_bound_estimate(mu, sigma, k, generator):
    """Mean and standard error of L_k for the proposal N(mu, sigma^2), over SAMPLES // k repeats."""
    eps = torch.randn(SAMPLES // k, k, generator=generator, dtype=torch.float64)  # (repeats, k)
    zs = mu + sigma * eps
    log_w = log_joint(zs) - Normal(mu, sigma).log_prob(zs)
    bounds = objectives.iw_bound(log_w.T)  # iw_bound takes (k, N): one value per repeat
    return bounds.mean().item(), bounds.std().item() / math.sqrt(len(bounds))


def best_gaussian_for_iw_bound(k, generator):
    """The Gaussian proposal with the largest L_k, from two starts: q* and a wide N(0, 1)."""
    eps = torch.randn(max(20, 20_000 // k), k, generator=generator, dtype=torch.float64)
    best = None
    for mu0, sigma0 in [(q_mu, q_sigma), (0.0, 1.0)]:
        params = torch.tensor([mu0, math.log(sigma0)], dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([params], max_iter=100, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            zs = params[0] + params[1].exp() * eps
            loss = -objectives.iw_bound((log_joint(zs) - Normal(params[0], params[1].exp()).log_prob(zs)).T).mean()
            loss.backward()
            return loss

        value = -optimizer.step(closure).item()
        if best is None or value > best[0]:
            best = (value, params[0].item(), params[1].exp().item())
    return best[1:]


generator = torch.Generator().manual_seed(0)
with_q_star, with_best, best_proposals = [], [], {}
for k in KS:
    with_q_star.append(iw_bound_estimate(q_mu, q_sigma, k, generator))
    best_proposals[k] = best_gaussian_for_iw_bound(k, generator)
    with_best.append(iw_bound_estimate(*best_proposals[k], k, generator))
    print(f"k = {k:4d}: log p(x) - L_k = {log_px - with_q_star[-1][0]:.3f} with q*,  "
          f"{log_px - with_best[-1][0]:.3f} with the best Gaussian for L_k (sigma = {best_proposals[k][1]:.2f})")

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
plots.plot_bound_against_k(KS, {"L_k with q* as proposal": list(zip(*with_q_star)),
                                "L_k with the best Gaussian for L_k": list(zip(*with_best))},
                           log_px, ax=left, references={"log p(x) - log 2": log_px - math.log(2)},
                           title="the importance-weighted bound against k")
k_show = 10
plots.plot_posterior_and_gaussians(z, posterior, {"q*: best for the ELBO (k = 1)": (q_mu, q_sigma),
                                                  f"best for L_{k_show}": best_proposals[k_show]}, ax=right,
                                   title="two proposals over the posterior")
right.set_xlim(-3.5, 3.5)
plt.show()
stuck, closed = log_px - with_q_star[-1][0], log_px - with_best[-1][0]
k_wide = next((k for k in KS if best_proposals[k][1] > 2 * q_sigma), None)
print(f"at k = {KS[-1]}: gap {stuck:.3f} nats with q*, {closed:.3f} nats with the best Gaussian for L_k; "
      f"that best Gaussian is more than twice as wide as q* from k = {k_wide} on")
assert abs(with_q_star[0][0] - q_elbo) < 4 * with_q_star[0][1], "L_1 is the ELBO: the estimate should match the grid's ELBO"
assert stuck > 0.6, "with q* as proposal the samples never reach the other mode: the gap should stay near log 2"
assert closed < 0.05, "a proposal that covers both modes should close the gap at large k"
assert k_wide is not None and all(best_proposals[k][1] > 2 * q_sigma for k in KS if k >= k_wide), \
    "from some k on, the best proposal for L_k should be wide, over both modes"

# %% [markdown]
# *Figure, left: the bound against k on a log axis; with q* (circles) it stays on the dashed line log p(x) − log 2;
# with the best Gaussian for each k (squares) it climbs to the black line, log p(x). Right: q* is a narrow
# bell on one mode; the best proposal for L₁₀ is a wide bell over both modes.*
#
# Two lessons. **The bound can only reweight what the proposal samples:** q* puts essentially no samples
# on the other mode, so for any k we can afford, L_k with q* stays about log 2 below log p(x). And **the best
# proposal for L_k is not the best q for the ELBO**: from the k printed above on, it is a wide Gaussian over both modes. A
# poor q for the ELBO (it wastes mass between the modes) is a good proposal once the weights can correct for
# it. That is the IWAE's idea (part 4), and why an estimate of log p(x) like notebook 08's needs a proposal
# with wide enough tails.
#
# ### 3. The two gaps on MNIST: approximation and amortization
#
# For a real VAE the posterior over its 50 latent dimensions cannot be put on a grid, but we can still take the
# gap apart (Cremer, Li & Duvenaud, 2018). Write q* for the best Gaussian **for this one image** (fitted to
# it alone) and q_enc for what the encoder outputs:
#
# $$\underbrace{\log p(x) - \mathrm{ELBO}(q_\text{enc})}_{\text{the gap}}
# = \underbrace{\log p(x) - \mathrm{ELBO}(q^*)}_{\text{approximation gap}}
# + \underbrace{\mathrm{ELBO}(q^*) - \mathrm{ELBO}(q_\text{enc})}_{\text{amortization gap}}.$$
#
# The approximation gap is what no Gaussian can close (part 1); the amortization gap is what we lose by
# using one encoder for every image instead of optimising q per image.
#
# **Predict, then run.** Which gap is larger for the default VAE: the one from the Gaussian shape, or the one
# from sharing one encoder across all images?
#
# First q*: `vae_lite.objectives.best_gaussian` starts from the encoder's q and runs Adam on this image's μ
# and log σ² alone (16 samples of z per step, the decoder fixed).

# %%
N_IMAGES, STEPS, MORE_STEPS, K_EVIDENCE = (3, 150, 100, 5000) if QUICK else (6, 300, 150, 40_000)
x = x_test[:N_IMAGES]
torch.manual_seed(0)
mu_star, logvar_star, trace = objectives.best_gaussian(model, x, steps=STEPS, every=1)
with torch.no_grad():
    mu_enc, logvar_enc = model.encode(x)
# then more steps from q*, at a lower learning rate: if q* has converged, they gain (almost) nothing
torch.manual_seed(1)
longer = objectives.best_gaussian(model, x, steps=MORE_STEPS, lr=0.01, init=(mu_star, logvar_star))


def elbo_with_error(mu, logvar, samples=4000, chunk=500):
    """The ELBO of q = N(mu, sigma^2) for each image, from `samples` draws (`chunk` at a time, to save memory),
    and its standard error."""
    log_w = torch.empty(samples, len(x))  # (samples, N), filled in place: no pile of pieces to concatenate
    with torch.inference_mode():
        for start in range(0, samples, chunk):
            log_w[start:start + chunk] = objectives.gaussian_log_weights(model, x, mu, logvar, chunk)
    return log_w.mean(dim=0), log_w.std(dim=0) / math.sqrt(samples)


torch.manual_seed(2)
elbo_enc, elbo_enc_se = elbo_with_error(mu_enc, logvar_enc)
elbo_star, elbo_star_se = elbo_with_error(mu_star, logvar_star)
elbo_longer, _ = elbo_with_error(*longer[:2])
plots.plot_q_convergence(trace - elbo_enc, elbo_star - elbo_enc, title="fitting a Gaussian q to each image alone")
plt.show()
further = (elbo_longer - elbo_star).mean().item()
print(f"ELBO per image, encoder's q: {[round(v, 2) for v in elbo_enc.tolist()]}")
print(f"ELBO per image, q* after {STEPS} steps: {[round(v, 2) for v in elbo_star.tolist()]} (standard errors <= "
      f"{max(elbo_enc_se.max(), elbo_star_se.max()).item():.2f})")
print(f"{MORE_STEPS} more steps from q* change the mean ELBO by {further:+.3f} nats")
assert (elbo_star > elbo_enc).all(), "q* fitted to each image should beat the encoder's q on every image"
assert abs(further) < 0.15, "q* has not converged: more steps still change its ELBO"

# %% [markdown]
# *Figure: for each test image, how far the ELBO of its own Gaussian climbs above the encoder's ELBO during
# the optimisation (each line a moving average over 20 steps of a 16-sample estimate); the diamonds at the
# right are the final values, estimated precisely from 4000 samples. Most of the climb comes in the first 50
# steps; after that the lines level off or creep up slowly, under the noise of the estimate.*
#
# Then log p(x), by importance sampling with a large k. The proposal starts from q* with its standard deviations
# widened by a little (the factor `WIDEN` below): q* was fitted by the ELBO, which (part 1) prefers narrow q's,
# and a proposal narrower than the posterior makes a few rare samples carry huge weights. Only a little: the
# latent has many dimensions, and a proposal too wide in each of them wastes samples in all of them at once
# (exercise 2 below asks how the effective sample size changes with the factor). Even so, on some images the
# posterior reaches where the widened q* has almost no mass, and one sample takes nearly all the weight. So
# half the samples come from the encoder's q instead, and every sample is weighted against the **mixture**
# ½ q*_widened + ½ q_enc (a "defensive" mixture, Hesterberg 1995; `objectives.mixture_log_weights`): no weight
# can exceed twice the smaller of the two weights the proposals alone would give it, and the estimate stays
# unbiased for p(x). The standard error is about
# √(1/ESS − 1/k), where ESS = (Σw)²/Σw² is the effective sample size (`objectives.effective_sample_size`).
# The encoder's own q as proposal, at the same k, shows what the mixture buys: both estimates are lower bounds on
# log p(x) in expectation, so a lower one is a worse one, and of two equal ones the estimate resting on more
# effective samples is the one to trust.

# %%
def log_evidence(proposals, k=K_EVIDENCE, chunk=250):
    """L_k for each image with the mixture of `proposals`, its standard error, the ESS, and L_{k/4} from the
    first quarter of the samples (each chunk draws equally from every proposal; small chunks, to save memory)."""
    log_w = torch.empty(k, len(x))  # (k, N), filled in place: no pile of pieces to concatenate
    with torch.inference_mode():
        for start in range(0, k, chunk):
            log_w[start:start + chunk] = objectives.mixture_log_weights(model, x, proposals, chunk)
    ess = objectives.effective_sample_size(log_w)
    return objectives.iw_bound(log_w), (1 / ess - 1 / k).sqrt(), ess, objectives.iw_bound(log_w[: k // 4])


torch.manual_seed(3)
WIDEN = 1.1  # the proposal's standard deviations, relative to q*'s
widened = logvar_star + 2 * math.log(WIDEN)
log_px_mnist, log_px_se, ess, log_px_quarter = log_evidence([(mu_star, widened), (mu_enc, logvar_enc)])
log_px_encoder, log_px_encoder_se, ess_encoder, _ = log_evidence([(mu_enc, logvar_enc)])
approximation = log_px_mnist - elbo_star
amortization = elbo_star - elbo_enc
print(f"log p(x) estimated with k = {K_EVIDENCE} samples from ½ q* widened by {WIDEN} + ½ q_enc (and, for comparison, "
      f"from the encoder's q alone):")
for i in range(N_IMAGES):
    print(f"image {i}: log p(x) {log_px_mnist[i]:8.2f} ± {log_px_se[i]:.2f}, ESS {ess[i]:5.0f} (encoder as proposal: "
          f"{log_px_encoder[i]:8.2f} ± {log_px_encoder_se[i]:.2f}, ESS {ess_encoder[i]:4.0f});  "
          f"approximation gap {approximation[i]:5.2f}, amortization gap {amortization[i]:5.2f} nats")
print(f"mean over the {N_IMAGES} images: approximation gap {approximation.mean():.2f}, amortization gap "
      f"{amortization.mean():.2f}, total {(log_px_mnist - elbo_enc).mean():.2f} nats")
assert (approximation > 2 * log_px_se).all(), "log p(x) should lie above the best Gaussian's ELBO on every image"
print(f"median effective sample size: {ess.median():.0f} with the mixture, {ess_encoder.median():.0f} with the encoder alone")
for i in torch.nonzero(ess < 20).flatten().tolist():
    print(f"image {i}: only {ess[i]:.0f} effective samples, so its estimate rests on a few large weights")
# each estimate is a lower bound on log p(x) in expectation (Jensen): the better proposal gives the higher one,
# and of two equal estimates the one resting on more effective samples is the more trustworthy
gain = (log_px_mnist - log_px_encoder).mean()
noise = (log_px_se.pow(2) + log_px_encoder_se.pow(2)).sum().sqrt() / N_IMAGES  # standard error of that mean
print(f"mean estimate of log p(x): {log_px_mnist.mean():.2f} with the mixture, {log_px_encoder.mean():.2f} with the "
      f"encoder alone; mixture minus encoder {gain:+.2f} ± {noise:.2f} nats (the mixture's higher on "
      f"{(log_px_mnist > log_px_encoder).sum()} of {N_IMAGES} images)")
assert gain > -2 * noise, "the mixture's estimate of log p(x) should not be below the encoder's alone"
assert gain > 2 * noise or ess.median() > ess_encoder.median(), \
    "the mixture should be the better proposal: a higher estimate of log p(x), or as high a one on more effective samples"
assert ((log_px_mnist - log_px_quarter).abs() < 3 * log_px_se + 0.2).all(), \
    "the estimate of log p(x) should have converged: k/4 samples should give nearly the same value"

# %%
plots.plot_two_gaps(x, approximation, amortization, approximation_errors=log_px_se,
                    title="log p(x) - ELBO(encoder), split in two")
plt.show()
larger = "amortization" if amortization.mean() > approximation.mean() else "approximation"
print(f"On these images the {larger} gap is the larger on average.")

# %% [markdown]
# *Figure: one stacked bar per test digit (drawn above its bar): the amortization gap at the bottom,
# the approximation gap (hatched, with the error of log p(x)) on top; together they are the whole gap between
# the encoder's ELBO and log p(x).*
#
# The line under the figure says which gap is larger on average here; the bars show that the answer changes
# from image to image, so a handful of images settles nothing. Cremer et al., on many more, found that on MNIST the gap "is often
# due to imperfect recognition networks, rather than the limited complexity of the approximating
# distribution": a better encoder (or a few steps of per-image optimisation at test time) can win back the
# amortization gap; only a richer family than the Gaussian can win back the approximation gap. Compare the two
# proposals' effective sample sizes (the ESS columns and the medians printed): the fewer effective samples, the
# more the estimate rests on a few large weights; where the ESS is only a handful (read the ESS columns; an image
# where even the mixture has fewer than 20 is named under the table), a few samples decide the estimate, which can
# then land on either side of the better one.
#
# ### 4. Training with the importance-weighted bound: the IWAE
#
# Burda et al. (2015) trained the same networks on L_k instead of the ELBO: the importance weighted autoencoder
# (`vae_lite.models.IWAE`, whose loss is −L_k from `objectives.iwae_bound`). Its bound is tighter, and part 2
# showed what its best proposal looks like.
#
# The long run lives in `benchmarks/iwae.py`: a VAE (k = 1) and an IWAE (k = 5) with Burda et al.'s
# one-stochastic-layer networks (two hidden layers of 200 units, 50 latent dimensions), the same initial
# weights, the same 60,000 training images in the same order with the same binarization, the same Adam and
# schedule, one CPU thread: that is its `mnist` configuration. The notebook loads the stored results; the first
# line printed says which configuration they come from.

# %%
stored = json.loads((Path(vae_lite.__file__).resolve().parent.parent / "benchmarks" / "results" / "iwae.json").read_text())
config, runs = stored["config"], stored["models"]
BURDA_TABLE_1 = {"VAE (k = 1)": 86.76, "IWAE, k = 5": 85.54, "IWAE, k = 50": 84.78}  # MNIST, 1 stochastic layer, NLL
print(f"our run: {config['epochs']} epochs, batch {config['batch_size']}, Adam {config['lr']:g} decayed by a cosine; "
      f"networks {config['hidden']} hidden, {config['latent_dim']} latent; {stored['threads']} thread")
print(f"{'':38s} {'VAE':>9s} {'IWAE k=5':>9s}")
assert config["dataset"] == "mnist" and config["latent_dim"] == 50, \
    "benchmarks/results/iwae.json holds a smoke run, not the MNIST one: run python benchmarks/iwae.py mnist"
for m in ("vae", "iwae"):  # the stored count is the one its activities give
    assert runs[m]["active_units"] == sum(a > 0.01 for a in runs[m]["activity"]), f"{m}: active units disagree"
rows = [(f"IW NLL, k = {config['eval_k']}, first {stored['iw_images']} test images", "iw_nll"),
        ("  its standard error over images", "iw_nll_std_error"),
        ("-L_5, all test images", "test_neg_lk"), ("-ELBO, all test images", "test_neg_elbo"),
        (f"active units (of {config['latent_dim']})", "active_units"), ("training CPU seconds", "train_cpu_seconds")]
for label, key in rows:
    print(f"{label:38s} " + " ".join(f"{runs[m][key]:9.2f}" if isinstance(runs[m][key], float) else f"{runs[m][key]:9d}"
                                     for m in ("vae", "iwae")))
gain, gain_se = stored["iw_nll_vae_minus_iwae"], stored["iw_nll_vae_minus_iwae_std_error"]
print(f"IWAE better than the VAE by {gain:.2f} ± {gain_se:.2f} nats (paired over the same images); "
      f"it cost {stored['cpu_ratio_iwae_over_vae']:.1f} times the training CPU time")
print("Burda et al. (2015), Table 1, after 3,280 epochs: " + ", ".join(f"{k} {v}" for k, v in BURDA_TABLE_1.items()))
behind = {m: runs[m]["iw_nll"] - BURDA_TABLE_1[label] for m, label in [("vae", "VAE (k = 1)"), ("iwae", "IWAE, k = 5")]}
print(f"ours are behind Burda et al.'s by {behind['vae']:.2f} (VAE) and {behind['iwae']:.2f} (IWAE) nats")
assert gain > 3 * gain_se, "the stored run should show the IWAE's better log-likelihood"
assert runs["iwae"]["test_neg_elbo"] > runs["vae"]["test_neg_elbo"], "the IWAE should have the worse ELBO"
assert runs["iwae"]["active_units"] > runs["vae"]["active_units"], "the IWAE should use more latent dimensions"

# %%
plots.plot_iwae_against_vae({m.upper(): runs[m]["epochs"] for m in ("vae", "iwae")},
                            {m.upper(): runs[m]["iw_nll"] for m in ("vae", "iwae")},
                            {m.upper(): runs[m]["activity"] for m in ("vae", "iwae")},
                            references={"Burda et al.: VAE 86.76": 86.76, "Burda et al.: IWAE k=5 85.54": 85.54})
plt.show()

# %% [markdown]
# *Figure, left: test −ELBO (solid) and −L₅ (dashed) over the epochs for the VAE and the IWAE, the final IW NLL
# as stars, and Burda et al.'s two numbers as grey lines. Right: each latent dimension's activity, sorted, on a
# log axis, with the threshold 0.01 above which a dimension counts as active.*
#
# Read it against the table above. The IWAE wins on log-likelihood (the IW NLL: the same estimator, k and
# images for both) and loses on the ELBO: its encoder is trained to be a good *proposal*, which is wider than
# a good ELBO q (part 2). It also keeps more latent dimensions active, Burda et al.'s "richer latent space".
# The last line printed above compares our numbers with Burda et al.'s: they trained for 3,280 epochs with
# batches of 20 and tanh units and scored all 10,000 test images; we trained for the epochs and with
# the batch size printed above, with ReLU units, and the IW NLL is on the test images counted in the table. What the comparison keeps
# equal is everything between our two models. The price is in the last row: each IWAE step decodes 5 samples
# of z per image instead of 1 (the encoder still runs once), so an epoch costs more CPU time, by the ratio
# printed under the table.
#
# **Predict, then run.** A short live run: the same comparison for a few epochs on part of the training set.
# Will the direction (IWAE better on IW NLL) already show?

# %%
LIVE_TRAIN, LIVE_K, LIVE_IMAGES = (3000, 100, 100) if QUICK else (10_000, 500, 300)
live_data = vae_lite.ImageData(data.train[:LIVE_TRAIN], None, name=data.name)  # the test set is scored below
live_epochs = (2 if QUICK else 3) * max(1, 10_000 // len(live_data.train))  # more epochs on a small data set
live, live_cpu, live_nll = {}, {}, {}
for name, cls, extra in [("VAE", vae_lite.VAE, {}), ("IWAE", IWAE, {"k": 5})]:
    torch.manual_seed(0)  # the same initial weights for both
    live[name] = cls(data.image_shape, latent_dim=50, hidden=[200, 200], **extra)
    start = time.process_time()
    vae_lite.fit(live[name], live_data, epochs=live_epochs, batch_size=100, seed=0, progress=False)
    live_cpu[name] = time.process_time() - start
    live_nll[name] = -vae_lite.iw_log_likelihood(live[name], x_test[:LIVE_IMAGES], k=LIVE_K,
                                                 generator=torch.Generator().manual_seed(0))
    print(f"{name}: {live_epochs} epochs on {len(live_data.train)} images in {live_cpu[name]:.1f} CPU s; "
          f"IW NLL (k = {LIVE_K}, first {LIVE_IMAGES} test images) {live_nll[name].mean():.2f}")
difference = live_nll["VAE"] - live_nll["IWAE"]
live_gain, live_gain_se = difference.mean().item(), (difference.std() / math.sqrt(len(difference))).item()
print(f"IWAE better by {live_gain:.2f} ± {live_gain_se:.2f} nats, at {live_cpu['IWAE'] / live_cpu['VAE']:.1f} times "
      f"the CPU time; the stored run: better by {gain:.2f}")
assert live_gain > 2 * live_gain_se, "the live run should point the same way as the stored one: IWAE better"

# %% [markdown]
# ### 5. Posterior collapse from first principles: the linear VAE is probabilistic PCA
#
# Notebooks [07](07_latent_space.ipynb) and [08](08_how_good.ipynb) saw latent dimensions switch off: their KL
# falls to 0 and the encoder ignores x there. Is that the ELBO's fault? Take the one model where everything can
# be solved: a **linear** decoder, x | z ~ N(Wz + b, σ² I), z ~ N(0, I). Its log-likelihood is that of
# probabilistic PCA (Tipping & Bishop, 1999), whose maximum is known: the columns of W point along the
# data's principal directions, with lengths √max(λⱼ − σ², 0), where λⱼ are the data's variances along those
# directions. Directions with λⱼ ≤ σ² get a zero column.
#
# Lucas et al. (2019) showed that with a Gaussian encoder q(z|x) = N(V(x − b) + c, diag(τ²)) the problem splits
# into one problem per principal direction. Sympy solves one such direction, with data variance λ and one latent
# number: x ~ N(0, λ), decoder x | z ~ N(wz, σ²), encoder q(z|x) = N(vx, τ²).

# %%
# NBVAL_CHECK_OUTPUT
linear = symbolic.linear_vae()
display(Math(r"\mathbb{E}_x[\mathrm{ELBO}] = " + sp.latex(linear["elbo"])))
display(Math(r"\mathbb{E}_x[\log p(x)] = " + sp.latex(linear["log_likelihood"])))
print("the best encoder for a given w:", linear["best_q"])
print("E[log p(x)] - E[ELBO] at that encoder, for every w:", linear["gap"])
print("maximum-likelihood w (where d E[log p(x)] / dw = 0):", linear["ml_w"])
print("the best encoder at w = 0:", linear["collapsed_q"])
assert linear["gap"] == 0, "with the best encoder the ELBO should equal the log-likelihood"

# %% [markdown]
# Read the results in order:
#
# 1. For every decoder w, the best encoder is the exact posterior, and the ELBO at that encoder **equals** the
#    log-likelihood (the gap is 0). So maximising the ELBO over encoder and decoder maximises the likelihood:
#    ELBO training recovers the maximum-likelihood solution.
# 2. The likelihood's stationary points are w = 0 and w = ±√(λ − σ²); the second exists only when λ > σ².
# 3. When λ ≤ σ², w = 0 is the only one, and there the best encoder is v = 0, τ = 1: q(z|x) = N(0, 1) for every x,
#    **exactly the prior**. That latent dimension has collapsed, and it has collapsed in the likelihood too: the
#    ELBO is not to blame.
#
# Now the same numerically, in 6 dimensions with 4 latent dimensions: data with two strong directions and weak
# noise in the others, fitted by maximising the exact ELBO (`objectives.linear_vae_elbo`, no sampling) with
# L-BFGS, a gradient-based optimiser that converges fully. The decoder's noise variance is fixed at σ² = 0.5.

# %%
N_POINTS, D, K_LATENT = 2000, 6, 4
g = torch.Generator().manual_seed(0)
directions = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=torch.float64))[0]
signal = torch.randn(N_POINTS, 2, generator=g, dtype=torch.float64) * torch.tensor([2.0, 1.2], dtype=torch.float64)
points = signal @ directions[:, :2].T + 0.3 * torch.randn(N_POINTS, D, generator=g, dtype=torch.float64) + 1.0
centred = points - points.mean(dim=0)
eigenvalues, eigenvectors = torch.linalg.eigh(centred.T @ centred / N_POINTS)
eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)  # largest first


def fit_linear_vae(noise_variance, seed=1):
    gen = torch.Generator().manual_seed(seed)
    params = {"W": 0.1 * torch.randn(D, K_LATENT, generator=gen, dtype=torch.float64),
              "b": torch.zeros(D, dtype=torch.float64),
              "V": 0.1 * torch.randn(K_LATENT, D, generator=gen, dtype=torch.float64),
              "c": torch.zeros(K_LATENT, dtype=torch.float64), "logvar": torch.zeros(K_LATENT, dtype=torch.float64)}
    for p in params.values():
        p.requires_grad_(True)
    optimizer = torch.optim.LBFGS(list(params.values()), max_iter=500, tolerance_grad=1e-9, tolerance_change=1e-10,
                                  history_size=50, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = -objectives.linear_vae_elbo(points, noise_variance=noise_variance, **params).mean()
        loss.backward()
        return loss

    optimizer.step(closure)
    fitted = {name: p.detach() for name, p in params.items()}
    mu = (points - fitted["b"]) @ fitted["V"].T + fitted["c"]
    kl = 0.5 * (mu.pow(2) + fitted["logvar"].exp() - fitted["logvar"] - 1).mean(dim=0)  # per latent dimension
    return fitted, kl


def ml_log_likelihood(noise_variance):
    """pPCA's maximum log-likelihood per point (Tipping & Bishop): W = U diag(sqrt(max(lambda - sigma^2, 0)))."""
    W = eigenvectors[:, :K_LATENT] * (eigenvalues[:K_LATENT] - noise_variance).clamp(min=0).sqrt()
    cov = W @ W.T + noise_variance * torch.eye(D, dtype=torch.float64)
    return MultivariateNormal(points.mean(dim=0), cov).log_prob(points).mean().item()


# %%
# NBVAL_CHECK_OUTPUT
NOISE_VARIANCE = 0.5
fitted, kl = fit_linear_vae(NOISE_VARIANCE)
closed_form = (eigenvalues[:K_LATENT] - NOISE_VARIANCE).clamp(min=0)
lengths = fitted["W"].pow(2).sum(dim=0)  # ||w_j||^2 of each column
order = torch.argsort(lengths, descending=True)
elbo_fit = objectives.linear_vae_elbo(points, noise_variance=NOISE_VARIANCE, **fitted).mean().item()
print("data variances along the principal directions (lambda):", [round(v, 3) for v in eigenvalues.tolist()])
print("closed form max(lambda_j - sigma^2, 0):", [round(v, 4) for v in closed_form.tolist()])
print("fitted ||w_j||^2, largest first:       ", [round(v, 4) for v in lengths[order].tolist()])
print("KL of each latent dimension, same order:", [round(v, 4) for v in kl[order].tolist()])
print("encoder variance tau_j^2, same order:   ", [round(v, 4) for v in fitted["logvar"].exp()[order].tolist()])
print(f"ELBO of the fit {elbo_fit:.5f}, pPCA's maximum log-likelihood {ml_log_likelihood(NOISE_VARIANCE):.5f} (per point)")
assert torch.allclose(lengths[order], closed_form, atol=1e-4), "the fitted columns should match pPCA's closed form"
collapsed = closed_form == 0
assert collapsed.any(), "this data set should leave some latent dimensions with nothing to explain"
assert (kl[order][collapsed] < 1e-6).all(), "a collapsed dimension's q(z|x) should be exactly the prior (KL 0)"
assert abs(elbo_fit - ml_log_likelihood(NOISE_VARIANCE)) < 1e-4, "the ELBO at its optimum should equal pPCA's likelihood"

# %% [markdown]
# The decoder's noise variance σ² decides how many directions are worth a latent dimension: only those with
# λⱼ > σ². It acts like β of notebook 08. The ELBO is −‖x − Wz‖²/(2σ²) − KL + const, so multiplying by 2σ²
# gives squared error + 2σ²·KL: a larger σ² is a larger weight on the KL (the "squared error is a Gaussian
# log-likelihood" box of [notebook 06](06_loss_right_and_wrong.ipynb)). Refit for several σ² and count the dimensions that stay active.

# %%
# NBVAL_CHECK_OUTPUT
NOISE_VARIANCES = [0.05, 0.5, 2.0, 5.0]
active_closed = [int((eigenvalues[:K_LATENT] > s2).sum()) for s2 in NOISE_VARIANCES]
active_fitted = [int((fit_linear_vae(s2)[1] > 1e-3).sum()) for s2 in NOISE_VARIANCES]
for s2, a, b in zip(NOISE_VARIANCES, active_closed, active_fitted):
    print(f"sigma^2 = {s2:4}: active latent dimensions {b} fitted, {a} predicted by #(lambda_j > sigma^2)")
assert active_fitted == active_closed, "the fitted linear VAE should keep exactly the directions with lambda > sigma^2"
assert len(set(active_closed)) > 2, "the sweep should show several different numbers of active dimensions"

# %%
plots.plot_linear_vae(closed_form, lengths[order], kl[order], NOISE_VARIANCES, active_closed, active_fitted,
                      NOISE_VARIANCE)
plt.show()

# %% [markdown]
# *Figure, left: for each of the 4 latent dimensions, the fitted squared column length (bars), its KL (hatched
# bars) and pPCA's closed form (black diamonds); the collapsed dimensions have all three at 0. Right: the number of
# active latent dimensions against σ² on a log axis, closed form as a staircase and the fits as dots on it.*
#
# So posterior collapse is not, by itself, a failure of the ELBO: the exact likelihood switches the same
# dimensions off, and the ELBO finds that optimum exactly. What the ELBO adds in deep VAEs (Lucas et al.) is
# harder optimisation, and a decoder variance or β large enough to make the KL dominate; the active-unit
# counts of [07](07_latent_space.ipynb) and the β sweep of [08](08_how_good.ipynb) are that effect.

# %% [markdown]
# ## Common mistakes
#
# > **Common mistake.** "With k samples the importance-weighted estimate *is* log p(x)." **Wrong:** L_k is a
# > lower bound in expectation, and it converges only as fast as the proposal's samples reach all of the
# > posterior. **Right:** report k, the proposal and a standard error, and check that a larger k no longer
# > changes the value. In part 2, q* as proposal stayed about log 2 below log p(x) at k = 1000.
#
# > **Common mistake.** Comparing the IWAE's training objective L_5 with the VAE's ELBO and calling the
# > difference "the IWAE is better". **Wrong:** the two are different bounds, and the IWAE's ELBO is in fact
# > *worse* (part 4). **Right:** score both models with one estimator on the same images: the IW NLL at
# > one large k here (part 4's table).
#
# > **Common mistake.** Reporting the ELBO of q's optimised per test image as the model's test ELBO.
# > **Wrong:** that is ELBO(q*), which is higher than what the encoder gives by the amortization gap.
# > **Right:** say which q: the encoder's (what "test ELBO" usually means) or optimised per image.
#
# > **Common mistake.** "Posterior collapse means the ELBO is broken." **Wrong:** in the linear VAE, the exact
# > likelihood has the same collapsed dimensions (part 5). **Right:** a latent dimension collapses when it
# > explains less variance than the decoder's noise (or than β makes it worth); change those, not the bound.

# %% [markdown]
# ## Exercises
#
# **pPCA's column lengths.** Complete `ppca_scales(eigenvalues, noise_variance, latent_dim)`: given the data's
# variances along its principal directions (in any order), the decoder's noise variance σ² and the number of
# latent dimensions K, return the lengths ‖wⱼ‖ of the maximum-likelihood W's columns, largest first:
# √max(λⱼ − σ², 0) for the K largest λⱼ. A length of 0 is a collapsed dimension. Hint: where λⱼ < σ² the
# square root of λⱼ − σ² is not a number; clip at 0 first.

# %%
# NBVAL_CHECK_OUTPUT
def ppca_scales(eigenvalues, noise_variance, latent_dim):
    raise NotImplementedError  # your code here


vae_lite.check.ppca_scales(ppca_scales)

# %% jupyter={"source_hidden": true} tags=["solution"]
# NBVAL_CHECK_OUTPUT
# Solution: take the K largest variances, subtract the noise variance, clip at 0 (collapse), take the root.
def ppca_scales(eigenvalues, noise_variance, latent_dim):
    largest = torch.sort(torch.as_tensor(eigenvalues), descending=True).values[:latent_dim]
    return (largest - noise_variance).clamp(min=0).sqrt()


assert vae_lite.check.ppca_scales(ppca_scales), "the solution should pass every case"

# %% [markdown]
# More to try:
#
# 1. In part 1, move the observation to x = 0.5: the modes move together. When does the best Gaussian stop
#    locking onto one mode and sit in the middle instead? What happens to the gap?
# 2. In part 3, use q* itself (`WIDEN = 1`), then `WIDEN = 1.5`, as the proposal for log p(x), first in the mixture,
#    then alone (`log_evidence([(mu_star, widened)])`). Compare the effective sample sizes: why does a factor that
#    looks small matter so much in 50 dimensions, and which images need the encoder's half of the mixture?
# 3. In part 5, learn σ² as well (Tipping & Bishop: its maximum-likelihood value is the mean of the discarded
#    λⱼ). Do the surplus dimensions still collapse?
#
# ## Summary
# - The gap log p(x) − ELBO is KL(q ‖ p(z|x)). For the toy's two equal modes the best Gaussian locks onto one
#   of them; no Gaussian, whatever its mean and width, brings the gap below log 2.
# - The importance-weighted bound L_k closes the gap as k grows, but only if the proposal's samples reach the
#   whole posterior; the best proposal for L_k is wider than the best q for the ELBO.
# - On MNIST, log p(x) − ELBO splits into an approximation gap (the Gaussian family) and an amortization gap
#   (one encoder for all images); the numbers above say which is larger for the default model.
# - Training on L_5 (the IWAE) gives a better log-likelihood, a worse ELBO and more active units than the ELBO,
#   at a higher cost per step (measured above).
# - The linear VAE is probabilistic PCA: ELBO training finds the maximum-likelihood solution, and latent
#   dimensions with nothing to explain collapse exactly to the prior, in the likelihood as in the ELBO.
#
# Next: [11 The conditional VAE](11_conditional_vae.ipynb)
