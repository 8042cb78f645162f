# %% [markdown]
# # 03 The reparameterization trick: gradients through random samples
#
# Previous: [02 The ELBO](02_elbo.ipynb) · Next: [04 The closed-form KL](04_closed_form_kl.ipynb)
#
# **Learning goals**
# - See that gradients flow through `rsample()`, which computes z = μ + σ·ε, ε ~ N(0, 1), and not
#   through `Normal(μ, σ).sample()`.
# - Write the pathwise (reparameterization) estimator by hand, checked against autograd, and the
#   score-function (REINFORCE) one for σ, checked against the exact gradient.
# - Measure their noise, on a toy f and on a trained VAE, and what a baseline removes.
#
# The VAE's ELBO contains E_{q(z|x)}[log p(x|z)], an average over z ~ q(z|x) = N(μ(x), σ(x)²). Training
# the encoder needs its gradient in μ and σ.

# %% [markdown] tags=["badges"]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-lite/vae_lite/blob/main/notebooks/03_reparameterization.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/vae-lite/vae_lite/main?labpath=notebooks%2F03_reparameterization.ipynb)

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
import math

import sympy as sp
import torch

import vae_lite
from vae_lite import check, gradients, plots, pretrained, symbolic

QUICK = vae_lite.setup_notebook()

# %% [markdown]
# ## Derivation
#
# ### `sample()` blocks gradients, `rsample()` does not
# In E_{z~q}[f(z)], μ and σ enter through the density q, not through f. So ∇_μ cannot move inside
# E_q[·] as if q were fixed: that gives E_q[∂f/∂μ] = 0, a wrong answer. `sample()` returns
# such a z, cut off from μ and σ. `rsample()` moves the randomness into an input ε ~ N(0, 1) and
# returns z = μ + σ·ε: ∂z/∂μ = 1 and ∂z/∂σ = ε. Then E_q[f(z)] = E_ε[f(μ + σε)] averages over a
# density free of μ, so the derivative moves inside: ∂/∂μ E_q[f(z)] = E_ε[f′(μ + σε)].
#
# *Figure: the VAE's computation. The reconstruction term's gradient (dashed) runs back from the decoder
# through z = μ + σ ⊙ ε to μ and log σ². With `sample()` it stops at the ✕ marks.*

# %%
plots.draw_gradient_path();

# %% [markdown]
# Both calls below draw z from N(0.5, 0.7²); only the second keeps z connected to μ and σ:

# %% tags=["nbval-check-output"]
mu, sigma = torch.tensor(0.5, requires_grad=True), torch.tensor(0.7, requires_grad=True)
q = torch.distributions.Normal(mu, sigma)

z_blocked = q.sample()
print("sample():  requires_grad =", z_blocked.requires_grad)
try:
    z_blocked.backward()
except RuntimeError as e:
    print("           backward() fails:", str(e).split(" and ")[0])
z = q.rsample()
z.backward()
print("rsample(): requires_grad =", z.requires_grad, "  dz/dmu =", mu.grad.item())
print("           dz/dsigma equals epsilon = (z - mu)/sigma:",  # float32: absolute tolerance
      math.isclose(sigma.grad.item(), ((z - mu) / sigma).item(), abs_tol=1e-6))

# %% [markdown]
# `vae_lite.reparameterize` is the same trick with the encoder's parameterisation: it receives
# log σ² (`logvar`), which, unlike σ, need not be positive. Then σ = exp(½ log σ²), so ∂z/∂μ = 1 and
# ∂z/∂ log σ² = ½ σ ε = ½ (z − μ). The checker tests exactly this, on many draws:

# %%
gradients.show(vae_lite.reparameterize)
assert check.reparameterize(vae_lite.reparameterize), \
    "vae_lite.reparameterize should pass the checker: its report above names what is wrong"

# %% [markdown]
# ### Two gradient estimators
# We want g = ∂/∂μ E_{z~N(μ,σ²)}[f(z)] (and ∂/∂σ), for an f we can evaluate but not integrate.
#
# - **Pathwise** (reparameterization; Kingma & Welling 2013, §2.4; Rezende et al. 2014):
#   g = E_ε[f′(μ + σε)], and for σ, E_ε[f′(μ + σε)·ε]. It needs f without jumps (a Lipschitz f, such
#   as a ReLU network, is enough): a jump carries gradient that f′ cannot see.
# - **Score function** (REINFORCE; Williams 1992; Paisley et al. 2012; Ranganath et al. 2014):
#   differentiate the density instead. As ∂q/∂μ = q·∂ log q/∂μ,
#   g = ∫ f(z) ∂q(z)/∂μ dz = E_q[f(z)·s], with the *score* s = ∂ log q/∂μ = (z − μ)/σ².
#   It needs only values of f. Its σ half is Exercise 2.
#
# For f(z) = sin z, sympy computes the exact gradient and what each estimator averages to:

# %% tags=["nbval-check-output"]
value, d_mu, d_sigma = symbolic.expected_gradient()
means = symbolic.estimator_means()
print("f(z)                 =", symbolic.example_function())
print("E[f(z)]              =", value)
print("exact d/dmu, d/dsigma =", d_mu, ",", d_sigma)
for name, (g_mu, g_sigma) in means.items():
    unbiased = sp.simplify(g_mu - d_mu) == 0 and sp.simplify(g_sigma - d_sigma) == 0
    print(f"{name:>9} estimator averages to {g_mu}, {g_sigma}   unbiased: {unbiased}")
    assert unbiased, f"the {name} estimator should average to the exact gradient"

# %% [markdown]
# **Exercise 1 (5 min).** The pathwise estimator by hand. Some encoders output ρ and set
# σ = softplus(ρ) = log(1 + e^ρ), positive for any ρ. Write `pathwise_by_hand(f_prime, mu, rho, eps)`:
# the pathwise estimates of ∂/∂μ and ∂/∂ρ of E[f(z)], z = μ + σε, each averaged over the given draws
# `eps`, by the chain rule (f′ is given; no autograd). The checker compares them with autograd.

# %%
def pathwise_by_hand(f_prime, mu, rho, eps):
    raise NotImplementedError  # your code here


check.pathwise_by_hand(pathwise_by_hand);

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution
def pathwise_by_hand(f_prime, mu, rho, eps):
    sigma = torch.nn.functional.softplus(rho)  # log(1 + e^rho), computed without overflow
    slope = f_prime(mu + sigma * eps)  # df/dz at each sample
    # dz/dmu = 1; dz/drho = eps * dsigma/drho, with dsigma/drho = e^rho / (1 + e^rho) = sigmoid(rho)
    return slope.mean(), (slope * eps * torch.sigmoid(rho)).mean()


assert check.pathwise_by_hand(pathwise_by_hand)

# %% [markdown]
# ## Experiments
#
# ### Both estimators, by sampling
# The package's estimators take f itself; autograd gives the pathwise one its f′, as in a VAE. Each
# returns one estimate per draw of ε.

# %%
pathwise_gradients = gradients.pathwise_gradients
score_gradients = gradients.score_function_gradients
gradients.show(pathwise_gradients)  # the grad of Σⱼ f(zⱼ) has entry j = f′(zⱼ)
gradients.show(score_gradients, left_out="value * (eps**2 - 1) / sigma", note="Exercise 2")

# %% [markdown]
# We take μ = 0.5 and σ = 0.7 (σ ≠ 1, so that a wrong power of σ in the score shows). `mean_estimates`
# averages each estimator over n draws, many times over: the mean of the repeats shows the bias
# (`unbiased` tests it), their variance the noise.
#
# > **Predict, then run.** Which estimator is noisier, and how does the noise change when n grows
# > four-fold?

# %% tags=["nbval-check-output"]
mu0, sigma0 = 0.5, 0.7
exact = float(d_mu.subs({symbolic.mu: mu0, symbolic.sigma: sigma0}))
print(f"exact d/dmu E[sin z] at mu = {mu0}, sigma = {sigma0}: {exact:.6f}")

# %% [markdown]
# *Figure: E[sin z] against μ (black) and its exact slope at μ = 0.5 (dashed). Each short line is one
# draw's estimate of that slope: 15 draws, blue pathwise, orange score function.*

# %%
expected_f = sp.lambdify((symbolic.mu, symbolic.sigma), value)  # sympy's E[sin z]
eps = torch.randn(15, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
np_mus = torch.linspace(-1.5, 2.5, 200).numpy()  # the μ axis
fan = {"pathwise": pathwise_gradients(torch.sin, mu0, sigma0, eps)[0],
       "score function": score_gradients(torch.sin, mu0, sigma0, eps)[0]}
plots.plot_one_draw_slopes(
    np_mus, lambda m: expected_f(m, sigma0), mu0, fan, exact,
    label=f"E[sin z], σ = {sigma0}", title=f"15 one-draw slopes at μ = {mu0}");

# %% jupyter={"source_hidden": true}
assert fan["score function"].std() > 1.5 * fan["pathwise"].std(), \
    "a check of the figure's claim, not of the maths: the score function's slopes should spread wider"

# %%
repeats, sample_counts = (300 if QUICK else 2000), [1, 4, 16, 64, 256]
generator, variances = torch.Generator().manual_seed(0), {"pathwise": [], "score function": []}
print("    n  pathwise mean  score mean  pathwise var  score var")
for n in sample_counts:  # `repeats` estimates of d/dmu E[sin z], each a mean over n draws
    eps = torch.randn(repeats, n, generator=generator, dtype=torch.float64)
    pathwise, score = (gradients.mean_estimates(e, torch.sin, mu0, sigma0, eps)
                       for e in (pathwise_gradients, score_gradients))
    variances["pathwise"].append(pathwise.var().item())
    variances["score function"].append(score.var().item())
    print(f"{n:>5} {pathwise.mean():14.4f} {score.mean():11.4f} "
          f"{pathwise.var():13.5f} {score.var():10.5f}")
    assert gradients.unbiased(pathwise, exact) and gradients.unbiased(score, exact), \
        "both estimators should average to the exact gradient (within 5 standard errors)"

# %% jupyter={"source_hidden": true}
slopes = [math.log(v[-1] / v[0]) / math.log(256) for v in variances.values()]  # 1/n gives -1
assert all(abs(s + 1) < 0.1 for s in slopes), \
    "both variances should fall as 1/n: does each estimate average n draws?"
assert all(s > p for p, s in zip(variances["pathwise"], variances["score function"])), \
    "the text says: for sin z the score function is the noisier estimator at every n"

# %% [markdown]
# Each four-fold n divides both variances by about four: they fall as 1/n. For sin z the score
# function is the noisier at every n: usual, but not a law (the Optional part shows an exception). The
# pathwise noise is the spread of f′ under q; the score function's grows with the size of f, as the VAE
# shows next.

# %% [markdown]
# ### The gradient a VAE takes
# In a VAE, f = log p(x|z) depends on all of z's tens of dimensions. We measure both estimators on the
# package's trained VAE (built in [05](05_vae.ipynb)), for ten training images:
# - `binarize(x)` sets each pixel to 0 or 1, as the decoder's Bernoulli likelihood needs;
# - `vae.encode(x)` returns each image's μ and log σ², the parameters of q(z|x);
# - `vae.log_likelihood(x, z)` returns log p(x|z) = Σ over pixels p of log Bernoulli(xₚ | decoder(z)ₚ).

# %%
data = vae_lite.load_dataset()  # MNIST (without it, the 8x8 digits)
vae = pretrained.default_model(data.subset(train=3000) if QUICK else data)  # 05's
x_vae = vae_lite.binarize(data.train[:10], torch.Generator().manual_seed(0))  # 10 images
mu_x, logvar_x = (t.detach() for t in vae.encode(x_vae))  # q(z|x): (10, d) each
sigma_x = (0.5 * logvar_x).exp()
eps_vae = torch.randn(500, *mu_x.shape, generator=torch.Generator().manual_seed(8))
log_px_z = lambda z: vae.log_likelihood(x_vae, z).unsqueeze(-1)  # f(z): (500, 10, 1)
f_vae = log_px_z(mu_x + sigma_x * eps_vae).detach()
f_mean, f_sd = f_vae.mean(dim=0), f_vae.std(dim=0)  # one per image
print(f"f = log p(x|z), 10 images: mean {f_mean.min():.0f} to {f_mean.max():.0f} nats, "
      f"standard deviation {f_sd.min():.1f} to {f_sd.max():.1f} nats")

# %% [markdown]
# **A baseline** b cuts the score function's noise: the estimate becomes (f − b)·s. The score has mean
# 0 (E_q[∂ log q/∂μ] = ∂/∂μ ∫ q dz = 0), so a b that does not depend on the sample's own ε leaves the
# estimator unbiased. Ours is the mean of f over the other 499 draws of the same image: close to E f,
# better than a VAE could have, as it draws one z per image (Kingma & Welling, §2.3). So we compare one
# draw's variances.
#
# > **Predict, then run.** The score function's variance is how many times the pathwise estimator's,
# > without a baseline and with this one: 2? 20? 2,000?

# %%
b_vae = {"none": 0.0, "mean of others": gradients.leave_one_out_mean(f_vae, dim=0)}
per_draw = {"pathwise": pathwise_gradients(log_px_z, mu_x, sigma_x, eps_vae)[0]}
for b, b_z in b_vae.items():
    per_draw[b] = score_gradients(log_px_z, mu_x, sigma_x, eps_vae, b_z)[0].detach()
var_vae = {k: g.var(dim=0).sum(dim=-1) for k, g in per_draw.items()}  # one per image
print(f"one draw's variance of ∂/∂μ, summed over μ's {vae.latent_dim} coordinates:")
for b in b_vae:
    ratio = var_vae[b] / var_vae["pathwise"]
    narrow = per_draw[b].var(dim=0).gather(-1, sigma_x.argsort(dim=-1)[:, :10]).sum(-1) / var_vae[b]
    print(f"  score, b = {b}: {ratio.min():.0f} to {ratio.max():.0f} times the pathwise; "
          f"{narrow.min():.0%} to {narrow.max():.0%} of it from the 10 coordinates of smallest σᵢ")

# %% jupyter={"source_hidden": true}
# each unbiased: its difference from the pathwise estimate averages to 0. With the baseline "none" the noise is
# so large that 500 draws could not see even a sign error in the score (z-scores about 3.5); with "mean of
# others" a sign error gives z-scores about 14: that case is the check
for b in b_vae:
    gap = per_draw[b] - per_draw["pathwise"]  # (500, 10, d): z-scores below over 500 draws
    assert (gap.mean(0) / gap.std(0) * len(gap) ** 0.5).abs().max() < 5, \
        f"with the baseline '{b}' the score function should still average to the pathwise gradient"
none, others_b = (var_vae[b] / var_vae["pathwise"] for b in b_vae)  # per image
assert (none > others_b).all() and (others_b > 1).all(), \
    "the text says: on every image the score function is noisier, and more so without a baseline"
assert data.name != "mnist" or (none.min() > 100 and others_b.min() > 10), \
    "the text says: hundreds of times or more without a baseline, over ten times with one"
assert data.name != "mnist" or (f_mean.max() < -10 and f_sd.max() < 10), \
    "the text says: f is tens of nats below zero, with a spread of a few nats"
assert data.name != "mnist" or narrow.min() > 0.5, "the text says: the 10 smallest σᵢ carry most of the noise"

# %% [markdown]
# On every image the score function is the noisier: hundreds to thousands of times without a
# baseline, still over ten times with one. For coordinate i its estimate is (f − b)·εᵢ/σᵢ, whose
# variance is E[(f − b)²εᵢ²]/σᵢ² minus the squared gradient. f is tens of nats below zero, and a good b
# still leaves a spread of a few nats; the 1/σᵢ² makes it largest where q(z|x) is narrow: the ten
# smallest σᵢ carry most of it (printed). Kingma & Welling (2013, §2.2) call this variance "very high";
# VAEs use the pathwise estimator.

# %% [markdown]
# ## Common mistakes
#
# > **Common mistake.** The write-up's line `σ = E[(x-μ)²]` (the Kingma & Welling summary that
# > [02](02_elbo.ipynb) corrects) gives the *variance* σ², not σ. In code it shows up as
# > `z = mu + torch.exp(logvar) * eps`, which multiplies ε by σ². The checker names this mistake. You
# > write your own `reparameterize` in [05](05_vae.ipynb), Exercise 2.

# %%
wrong = lambda mu, logvar: mu + torch.exp(logvar) * torch.randn_like(mu)  # sigma^2, not sigma
assert check.reparameterize(wrong) is False, "the checker should catch sigma^2 for sigma"

# %% [markdown]
# ## Exercises
#
# **Exercise 2 (8 min).** The score function for σ. Differentiate
# log q(z) = −log σ − (z − μ)²/(2σ²) − ½ log 2π in σ, then write `score_function_gradient(f, mu, sigma, n)`:
# the score-function estimate of ∂/∂σ E[f(z)], z ~ N(μ, σ²), from n new samples. The checker tests
# f = sin and a step f(z) = [z > 0], where the pathwise estimator returns 0.

# %%
def score_function_gradient(f, mu, sigma, n):
    raise NotImplementedError  # your code here


check.score_function_gradient(score_function_gradient);

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution
def score_function_gradient(f, mu, sigma, n):
    z = mu + sigma * torch.randn(n, dtype=torch.float64)
    score = -1 / sigma + (z - mu) ** 2 / sigma**3  # = ((z - mu)^2 - sigma^2) / sigma^3
    return (f(z) * score).mean()


assert check.score_function_gradient(score_function_gradient)

# %% [markdown]
# ## Summary
# - `sample()` cuts the graph; `rsample()` returns μ + σε, differentiable in μ and σ.
# - Both estimators are unbiased; the pathwise one needs f without jumps.
# - Both variances fall as 1/n. On a trained VAE the score function is far noisier, even with a good
#   baseline: its variance grows with the size of f − b and with 1/σᵢ², largest where q(z|x) is
#   narrow. So VAEs use the pathwise estimator.
# - The encoder outputs log σ², so σ = exp(½ log σ²), not exp(log σ²).
#
# Next: [04 The closed-form KL](04_closed_form_kl.ipynb), the other term of the ELBO, without sampling.

# %% [markdown]
# ## Optional
#
# Nine sections, each with its class minutes. The first seven make a second class (about 52 min); the
# last two are reading for home.
# - [Explore](#Explore), 2 min: move μ and σ of f(z) = z², and watch both estimates and their error bars.
# - [When the pathwise estimator is the noisier](#When-the-pathwise-estimator-is-the-noisier), 3 min:
#   f = sin 2z, where the score function is the less noisy.
# - [Many dimensions, and baselines](#Many-dimensions,-and-baselines), 10 min: f = Σᵢ sin zᵢ up to
#   d = 50; the score function's noise grows with d unless the baseline drops the terms without z₁.
# - [A decoder-like f](#A-decoder-like-f), 5 min: an f with no terms to drop; the variances' ratio grows
#   with d.
# - [The tables drawn](#The-tables-drawn), 9 min: the tables as figures, and why the ratio grows as d.
# - [What the noise costs an optimiser](#What-the-noise-costs-an-optimiser), 11 min: gradient ascent
#   with each estimator, and a scan of step sizes.
# - [Discrete latents](#Discrete-latents), 12 min: an exercise, why the trick fails for discrete z, and
#   the score function through autograd (the surrogate objective).
# - [A baseline closer to f, and what it costs](#A-baseline-closer-to-f,-and-what-it-costs), 6 min: a
#   baseline per coordinate, compared at equal evaluations of f.
# - [The best constant baseline](#The-best-constant-baseline), 12 min: why adding a constant to f adds
#   noise, and the best constant b* from Stein's lemma.

# %% [markdown]
# ### Explore
# The explorer uses f(z) = z², whose exact gradients are 2μ and 2σ. Move μ and σ, and the samples and
# both estimates follow. The button *new eps* redraws ε: each estimate moves, mostly within its error bar.
#
# *Figure (widget; a still without a live kernel): left, 200 samples z = μ + σε over N(μ, σ²); right,
# the pathwise (blue) and score-function (orange) estimates of both gradients, ±2 standard errors;
# black lines, the exact values.*

# %%
from IPython.display import display

from vae_lite import widgets

display(widgets.ReparameterizationExplorer())

# %% [markdown]
# ### When the pathwise estimator is the noisier
# Which estimator is noisier depends on f (Mohamed et al. 2020 compare them on many f). The cell
# measures one draw's variance of each, on draws of its own, for sin z and for sin 2z.

# %%
estimators = (pathwise_gradients, score_gradients)
eps = torch.randn(100_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
functions = {"sin z": torch.sin, "sin 2z": lambda z: torch.sin(2 * z)}
one_draw = {name: [e(g, mu0, sigma0, eps)[0].var().item() for e in estimators]
            for name, g in functions.items()}  # one draw's variance, [pathwise, score]
for name, (pathwise_var, score_var) in one_draw.items():
    print(f"f = {name:<6} one draw's variance: pathwise {pathwise_var:.2f}, "
          f"score function {score_var:5.2f} ({score_var / pathwise_var:.1f} times)")
(path_1, score_1), (path_2, score_2) = one_draw["sin z"], one_draw["sin 2z"]
assert score_1 > path_1 and path_2 > score_2, \
    "the text says: for sin z the pathwise estimator is less noisy, for sin 2z noisier"

# %% [markdown]
# For sin 2z the pathwise estimator is the noisier: its f′ = 2 cos 2z is twice as large and swings
# twice as fast, while the score function's f = sin 2z still lies between −1 and 1.

# %% [markdown]
# ### Many dimensions, and baselines
# Take f(z) = Σᵢ sin zᵢ and estimate ∂/∂μ₁ E[f] from 16 samples. The score function multiplies *all*
# of f by s = (z₁ − μ₁)/σ². Two baselines that do not depend on sample j's own ε₁⁽ʲ⁾:
# - the mean of f over the *other* 15 samples (`gradients.leave_one_out_mean`), which estimates E f;
# - the terms of f without z₁, Σ_{i≥2} sin zᵢ, which vary with the sample but are independent of ε₁
#   (q is diagonal).
#
# > **Predict, then run.** From d = 1 to d = 50, what happens to the variance of the pathwise
# > estimator, and to that of the score function with no b and with each of these two?

# %%
f = lambda z: torch.sin(z).sum(dim=-1, keepdim=True)  # one value per sample, shape (..., 1)
baselines = {"none": None,
             "mean of others": lambda z: gradients.leave_one_out_mean(f(z), dim=-2),
             "terms without z₁": lambda z: f(z) - torch.sin(z)}  # for every i at once
columns = ("pathwise", *baselines)  # then the score function with each baseline
by_dimension, generator = {}, torch.Generator().manual_seed(3)  # a re-run gives the same table
print(f"variances of {repeats} estimates of d/dmu_1, 16 samples each, "
      f"about ±{math.sqrt(2 / repeats):.0%} (one standard error)")
print("  d  pathwise  score, b = none  b = mean of others  b = terms without z₁")
for d in (1, 5, 50):
    eps = torch.randn(repeats, 16, d, generator=generator, dtype=torch.float64)
    pathwise = gradients.mean_estimates(pathwise_gradients, f, mu0, sigma0, eps)
    score_by_b = {b: gradients.mean_estimates(score_gradients, f, mu0, sigma0, eps, b_z)
                  for b, b_z in baselines.items()}
    row = [pathwise.var().item()] + [s.var().item() for s in score_by_b.values()]
    by_dimension[d] = dict(zip(columns, row))
    print(f"{d:>3} {row[0]:9.5f} {row[1]:16.5f} {row[2]:19.5f} {row[3]:21.5f}")
    for b, estimates in score_by_b.items():  # not b = none at d = 50: 5 s.e. exceed the gradient
        assert (d, b) == (50, "none") or gradients.unbiased(estimates, exact), \
            f"with the baseline '{b}' the score function should still average to the exact gradient"

# %% jupyter={"source_hidden": true}
at_1, at_50 = by_dimension[1], by_dimension[50]
assert at_50["none"] > 5 * at_1["none"], "the score function's variance should grow with d"
assert at_50["mean of others"] > 5 * at_1["mean of others"], \
    "a baseline that estimates E f should leave the other terms' noise"
assert at_50["terms without z₁"] < 2 * at_1["terms without z₁"], \
    "without the other terms the score's variance should not grow"
assert at_50["pathwise"] < 2 * at_1["pathwise"], \
    "for this separable f, the pathwise variance should not grow with d"

# %% [markdown]
# The mean of the others removes f's *mean*, but not the *fluctuations* of Σ_{i≥2} sin zᵢ, which grow
# with d. Dropping those terms removes the fluctuations too: the variance falls back to its d = 1
# value. At d = 1 the mean of the others even adds noise (see b*, below). Only terms of f that do not
# involve z₁ can be dropped; in a decoder every pixel's term involves every zᵢ, as in the decoder-like
# f below.

# %% [markdown]
# ### A decoder-like f
# A toy f that, like a decoder, has no terms to drop: f(z) = sin(0.5 + Σᵢ (zᵢ − 0.5)/√d), at d = 1, 5
# and 50. Every zᵢ enters one sine, whose argument stays N(0.5, 0.7²) at every d. Its exact gradient,
# cos(0.5)·e^(−0.7²/2)/√d, shrinks as each zᵢ matters less.

# %%
f_joint = lambda z: torch.sin(mu0 + (z - mu0).sum(dim=-1, keepdim=True) / math.sqrt(z.shape[-1]))
others_joint = lambda z: gradients.leave_one_out_mean(f_joint(z), dim=-2)  # the other 15's mean
print("  d  exact grad  pathwise var  score var, b = mean f of others  ratio")
joint, ratios = {}, {}
generator = torch.Generator().manual_seed(3)  # the sum's draws: at d = 1, f_joint is sin z too
for d in (1, 5, 50):
    eps = torch.randn(repeats, 16, d, generator=generator, dtype=torch.float64)
    pathwise = gradients.mean_estimates(pathwise_gradients, f_joint, mu0, sigma0, eps)
    score = gradients.mean_estimates(score_gradients, f_joint, mu0, sigma0, eps, others_joint)
    exact_d = math.cos(mu0) * math.exp(-sigma0**2 / 2) / math.sqrt(d)
    joint[d] = (pathwise.var().item(), score.var().item())
    ratios[d] = joint[d][1] / joint[d][0]
    print(f"{d:>3} {exact_d:11.4f} {joint[d][0]:13.5f} {joint[d][1]:32.5f} {ratios[d]:6.0f}")
    assert gradients.unbiased(pathwise, exact_d) and gradients.unbiased(score, exact_d), \
        "both estimators should average to the exact gradient (within 5 standard errors)"

# %% jupyter={"source_hidden": true}
assert joint[50][0] < joint[1][0] / 10 and ratios[50] > 5 * ratios[1], \
    "for an f that is not a sum, the pathwise variance should shrink with the gradient's square, " \
    "the score's far less"
# a consistency check, true by construction: it fails only if the draws or f stop being shared
assert all(math.isclose(a, b, rel_tol=1e-9) for a, b in
           zip(joint[1], (by_dimension[1]["pathwise"], by_dimension[1]["mean of others"]))), \
    "the text says the d = 1 rows agree: the same f (sin z) on the same draws"

# %% [markdown]
# At d = 1 this f is sin z, on the sum's draws, so its d = 1 row agrees with the sum's table. As d
# grows, the pathwise variance shrinks with the gradient's square, as 1/d, but the score function's
# (b = mean of others) shrinks far less, so their ratio grows. The reason comes after the second figure
# below.

# %% [markdown]
# ### The tables drawn
# *Figure: the core's first table, the variance of each estimator (y-axis, log scale) against the
# number of samples n (x-axis, log scale): two straight lines, the score function's above the pathwise
# one, both parallel to a dashed 1/n guide.*

# %%
title = f"∂/∂μ E[sin z] at μ = {mu0}, σ = {sigma0}"
ax = plots.plot_estimator_variance(sample_counts, variances, title=title).axes[0]
ax.set_xticks(sample_counts, [str(n) for n in sample_counts], minor=False)
ax.set_xticks([], minor=True);

# %% [markdown]
# *Figure: the score function's variance over the pathwise one (y-axis, log scale) against d (x-axis, log
# scale). Thick lines, the sum of sines, one per baseline: grey none, orange the mean of the others, red
# the terms without z₁. Black hollow squares: the decoder-like f, b = mean of the others. At d = 1 the
# red point hides the grey one (no terms to drop) and the square sits on the orange one (f is sin z).*

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(layout="constrained")
for b, colour in zip(baselines, ("grey", "C1", "C2")):  # blue stays the pathwise estimator's
    ax.plot(list(by_dimension), [row[b] / row["pathwise"] for row in by_dimension.values()],
            "o-", color=colour, linewidth=5, label=f"Σ sin zᵢ, b = {b}")
ax.plot(list(ratios), list(ratios.values()), "ks-", linewidth=1.5, markersize=13,
        markeredgewidth=2.5, markerfacecolor="none", label="decoder-like f, b = mean of others")
ax.set(xscale="log", yscale="log", xticks=list(ratios), xticklabels=[str(d) for d in ratios],
       xlabel="dimension d of z", ylabel="score var / pathwise var",
       title="∂/∂μ₁ from 16 samples")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False);

# %% jupyter={"source_hidden": true}
# each variance is within about ±sqrt(2/repeats); log(orange/black) over 100 seeds of
# independent draws: sd 2 of those, max 5.3 (quick: 7.4); the tables now share their draws
sum_ratios = {d: row["mean of others"] / row["pathwise"] for d, row in by_dimension.items()}
k_close = 12 if QUICK else 6  # class mode: within about 20 %
assert all(abs(math.log(sum_ratios[d] / ratios[d])) < k_close * math.sqrt(2 / repeats)
           for d in ratios), \
    "the text says the orange line and the black squares nearly coincide"
# a consistency check, true by construction: at d = 1 the terms without z₁ are 0, and f_joint is sin z
assert math.isclose(at_1["terms without z₁"], at_1["none"], rel_tol=1e-9) \
    and math.isclose(ratios[1], sum_ratios[1], rel_tol=1e-9), \
    "the caption says that at d = 1 red hides grey and the square sits on orange"

# %% [markdown]
# The orange line and the black squares nearly coincide, for this reason. Once f hardly depends on z₁
# (large d), one draw's score-function variance is about f's variance over σ², times 16/15 for the
# baseline's own noise (plus a small covariance it creates between samples, negligible at large d).
# The pathwise one's is the variance of ∂f/∂z₁. For the sum, f's variance grows as d, while
# ∂f/∂z₁ = cos z₁ stays the same. For the decoder-like f, f's variance stays the same, while that of
# ∂f/∂z₁ falls as 1/d. So at large d both ratios come to about (16/15)·d·Var(sin z)/(σ²·Var(cos z)):

# %%
generator = torch.Generator().manual_seed(7)
z_many = mu0 + sigma0 * torch.randn(1_000_000, generator=generator, dtype=torch.float64)
per_d = 16 / 15 * torch.sin(z_many).var().item() / (sigma0**2 * torch.cos(z_many).var().item())
ratio_50 = (by_dimension[50]["mean of others"] / by_dimension[50]["pathwise"], ratios[50])
print(f"d = 50, b = mean of others: ratio {ratio_50[0]:.0f} for Σ sin zᵢ, "
      f"{ratio_50[1]:.0f} for the decoder-like f")
print(f"(16/15)·d·Var(sin z)/(σ²·Var(cos z)) = {per_d:.2f}·d = {50 * per_d:.0f}")
# log(ratio / formula) over 100 seeds (200 quick): sd 1.7 of the table's ±sqrt(2/repeats),
# max 5.2; a factor σ² (2×) fails
assert all(abs(math.log(r / (50 * per_d))) < 8 * math.sqrt(2 / repeats) for r in ratio_50), \
    "the text says both ratios are about (16/15)·d·Var(sin z)/(σ²·Var(cos z)) at large d"

# %% [markdown]
# ### What the noise costs an optimiser
# Gradient ascent on μ maximises E[Σᵢ sin zᵢ] at d = 50 and σ = 0.7, with 16 samples a step.
#
# *Figure: E[f]/d, computed exactly at the current μ (y-axis), against the step (x-axis), for each
# estimator and step size, in the colours above. Blue: pathwise. Orange: b = mean of others (dashed:
# step size 0.1). Red dotted: terms without zᵢ (for each μᵢ); it lies on the blue curve. Black dashed:
# the most E[f]/d can be (every μᵢ = π/2).*

# %%
def climb(estimator, step_size, baseline=None, seed=4):  # E[f]/d before and after 40 steps
    start = torch.full((50,), mu0, dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    path = gradients.gradient_ascent(estimator, f, start, sigma0, step_size, 40, 16, generator,
                                     baseline)
    return [expected_f(mu.numpy(), sigma0).mean() for mu in path]


others, dropped = baselines["mean of others"], baselines["terms without z₁"]
climbs = {"pathwise, step size 1": climb(pathwise_gradients, 1.0),
          "score, b = terms without zᵢ, step size 1": climb(score_gradients, 1.0, dropped),
          "score, b = mean f of others, step size 1": climb(score_gradients, 1.0, others),
          "score, b = mean f of others, step size 0.1": climb(score_gradients, 0.1, others)}
best = expected_f(math.pi / 2, sigma0)
fig, ax = plt.subplots(layout="constrained")
for (name, curve), style in zip(climbs.items(), ("C0-", "C2:", "C1-", "C1--")):
    ax.plot(curve, style, linewidth=3, label=name)
ax.axhline(best, color="black", linestyle="--", linewidth=1.5, label="the most E[f]/d can be")
ax.set(xlabel="gradient step", ylabel="E[f] / d (exact)",
       title="gradient ascent on E[Σ sin zᵢ], d = 50, 16 samples a step")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
first_at_95 = lambda curve: next((i for i, v in enumerate(curve) if v > 0.95 * best), "never")
reached = {name: first_at_95(curve) for name, curve in climbs.items()}
print("first step at 95 % of the most:")
for name, step in reached.items():
    print(f"  {name:<43} {step}")

# %% jupyter={"source_hidden": true}
fast = reached["pathwise, step size 1"]
dropped_at = reached["score, b = terms without zᵢ, step size 1"]
others_1, others_01 = (reached[f"score, b = mean f of others, step size {s}"] for s in (1, .1))
assert max(fast, dropped_at) <= 3 and others_1 == "never" and others_01 > 5 * fast, \
    "the text says: pathwise and terms-dropped get there at once, " \
    "b = mean of others never at step 1, slowly at 0.1"

# %% [markdown]
# In this run, at the pathwise estimator's step size, the score function with b = mean of the others
# never gets close: its noise throws μ about. A ten times smaller step gets there, but in many more
# steps. In a VAE it would mean a smaller learning rate and slower training, counted in steps (a pathwise
# step also costs a backward pass through f). Here, dropping the terms without zᵢ fixes it. The cell
# below tries other step sizes, each over several seeds:

# %%
import statistics

seeds, step_sizes = range(3 if QUICK else 10), (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
scan = {s: [first_at_95(climb(score_gradients, s, others, seed)) for seed in seeds]
        for s in step_sizes}
pathwise_runs = [first_at_95(climb(pathwise_gradients, 1.0, seed=seed)) for seed in seeds]
arrived = lambda runs: [i for i in runs if i != "never"]
# a run that never gets there counts as more than 40 steps (inf), so the median is not biased low
median = lambda runs: statistics.median(math.inf if i == "never" else i for i in runs)
shown = lambda m: "> 40" if m == math.inf else m
print(f"first step at 95 % of the most, over {len(seeds)} seeds: "
      "runs that get there, median step of all runs")
for s, runs in scan.items():
    print(f"  b = mean f of others, step size {s:<4}: {len(arrived(runs)):>2} runs, "
          f"median {shown(median(runs))}")
print(f"  pathwise, step size 1             : {len(arrived(pathwise_runs)):>2} runs, "
      f"median {shown(median(pathwise_runs))}")
fastest = min(median(runs) for runs in scan.values())
print(f"best median over the pathwise median: {fastest / median(pathwise_runs):.1f} times")
assert len(arrived(pathwise_runs)) == len(seeds) and median(pathwise_runs) <= 3, \
    "the text says the pathwise runs get there at once"
assert not arrived(scan[0.5]) and not arrived(scan[1.0]), "the text: large steps never get there"
assert math.inf > fastest > 5 * median(pathwise_runs), \
    "the text says the best median takes over 5 times the pathwise steps"

# %% [markdown]
# On this grid no step size brings it near the pathwise estimator: at 0.5 and 1 no run gets there, and
# the best median takes more than five times the pathwise estimator's steps.

# %% [markdown]
# ### Discrete latents
# **Exercise 3 (5 min).** When can a VAE *not* use the reparameterization trick? (A collapsed answer
# follows; the cell after it shows both failures.)

# %% [markdown] jupyter={"source_hidden": true} tags=["solution"]
# **When a VAE cannot use the trick.** The pathwise estimator needs z to be a differentiable function
# of the parameters, and f to have a useful derivative. For **discrete latent variables** (one of K
# categories, or a vector of bits) the trick fails even when the decoder f is differentiable: a
# Bernoulli sample [u < p], with u ~ Uniform(0, 1), has derivative 0 in p wherever it exists, and torch offers no
# `rsample()` for it. The step function of Exercise 2 is the same failure from the other side:
# f(z) = [z > 0] has derivative 0, so the pathwise estimator is biased there (its unbiasedness needs an
# f without jumps: the jump at 0 carries gradient that f′ cannot see), and [z > 0] is a Bernoulli latent
# with p = Φ(μ/σ). Such models use the score function (with baselines) or a continuous relaxation
# such as the Gumbel-softmax, or Concrete, distribution (Jang et al. 2017; Maddison et al. 2017):
# torch's `RelaxedBernoulli` and `RelaxedOneHotCategorical`, which have `rsample()`.
# The cell shows both failures.

# %% tags=["nbval-check-output"]
# discrete distributions have no rsample(), their relaxations do; the step's pathwise gradient is 0
for distribution in (torch.distributions.Bernoulli(probs=torch.tensor(0.3)),
                     torch.distributions.Categorical(probs=torch.tensor([0.2, 0.5, 0.3])),
                     torch.distributions.RelaxedBernoulli(torch.tensor(0.5), probs=torch.tensor(0.3)),
                     torch.distributions.Normal(0.0, 1.0)):
    print(f"{type(distribution).__name__:>16}: has rsample() = {distribution.has_rsample}")
step = lambda z: (torch.sign(z) + 1) / 2  # 1 for z > 0, 0 for z < 0; sign's derivative is 0
eps = torch.randn(100_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
pathwise_step = pathwise_gradients(step, 0.3, 1.5, eps)[0].mean().item()
score_draws = score_gradients(step, 0.3, 1.5, eps)[0]
score_step, score_se = score_draws.mean().item(), score_draws.std().item() / len(eps) ** 0.5
# d/dmu P(z > 0) is the density of z ~ N(0.3, 1.5²) at 0
exact_step = math.exp(-0.5 * (0.3 / 1.5) ** 2) / (1.5 * math.sqrt(2 * math.pi))
print(f"f = step: pathwise {pathwise_step:.3f}, score function {score_step:.2f}, "
      f"exact {exact_step:.2f}")
# true by construction (sign's derivative is 0): a consistency check of the text, not a test
assert pathwise_step == 0, "the text says the pathwise estimator returns 0 for a step"
assert abs(score_step - exact_step) < 5 * score_se, \
    "the score function should find the step's gradient, the density of z at 0"

# %% [markdown]
# Autograd gives the score function for any q with `log_prob`, discrete ones too: the `.backward()` of
# the *surrogate objective* (f(z) − b).detach()·log q(z) + f(z) (Pyro's SVI tutorial, Part III) is the
# estimate of ∇ E f. Its first term gives q's parameters the score-function estimate; its second gives
# f's own parameters (a decoder's θ, f = log p_θ(x|z)) their gradient. The loss to minimise is its negative.

# %%
mu_q, sigma_q, theta = (torch.tensor(v, requires_grad=True) for v in (mu0, sigma0, 1.0))
q = torch.distributions.Normal(mu_q, sigma_q)  # or a Bernoulli, a Categorical: the same lines
z = q.sample((1000,))  # no gradient reaches z; mu_q and sigma_q get theirs through log q(z)
f_z = torch.sin(theta * z)  # theta stands for the decoder's parameters
b = gradients.leave_one_out_mean(f_z, dim=0)  # a baseline, as above
((f_z - b).detach() * q.log_prob(z) + f_z).mean().backward()  # the surrogate objective

# %% jupyter={"source_hidden": true}
eps_q = (z - mu0) / sigma0
by_hand = gradients.score_function_gradients(torch.sin, mu0, sigma0, eps_q, baseline=b)
d_theta = (z * torch.cos(z)).mean()  # d sin(theta z)/d theta at theta = 1
by_hand = torch.stack([g.mean() for g in by_hand] + [d_theta]).detach()
grads = torch.stack([torch.zeros(()) if p.grad is None else p.grad
                     for p in (mu_q, sigma_q, theta)])
print("d/d(mu, sigma, theta): surrogate's .grad", grads.numpy().round(4),
      " by hand", by_hand.numpy().round(4))
assert torch.allclose(grads, by_hand, atol=1e-5), \
    "the surrogate's gradient should be the score-function estimate for mu and sigma and, " \
    "through its + f, the gradient of f for theta (a decoder's parameters)"

# %% [markdown]
# ### A baseline closer to f, and what it costs
# For the decoder-like f above, take b = f with z₁ set to μ₁. It is free of ε₁, so the estimator stays
# unbiased, and it follows the other coordinates' noise. But each of the d gradients needs its own such
# baseline: 16 × (d + 1) evaluations of f in all, against 16 for b = mean of the others. The last line
# gives b = mean of the others as many evaluations.

# %%
ratios_own, generator = {}, torch.Generator().manual_seed(3)  # the draws of the tables above
with_mu_1 = lambda z: torch.cat([torch.full_like(z[..., :1], mu0), z[..., 1:]], dim=-1)
own = lambda z: f_joint(with_mu_1(z))  # free of eps_1: the baseline for d/dmu_1
print("16 samples: score var with b = f(z₁ = μ₁), and its ratio to the pathwise var")
for d in (1, 5, 50):
    eps = torch.randn(repeats, 16, d, generator=generator, dtype=torch.float64)
    score_own = gradients.mean_estimates(score_gradients, f_joint, mu0, sigma0, eps, own)
    exact_d = math.cos(mu0) * math.exp(-sigma0**2 / 2) / math.sqrt(d)
    assert gradients.unbiased(score_own, exact_d), \
        "with b = f(z₁ = μ₁) the score function should still average to the exact gradient"
    ratios_own[d] = score_own.var().item() / joint[d][0]
    print(f"  d = {d:>2}: {score_own.var():.5f}, {ratios_own[d]:3.0f} times "
          f"(b = mean of others: {ratios[d]:3.0f} times)")
generator = torch.Generator().manual_seed(6)
eps = torch.randn(repeats // 10, 16 * 51, 50, generator=generator, dtype=torch.float64)
equal_cost = gradients.mean_estimates(score_gradients, f_joint, mu0, sigma0, eps, others_joint)
equal_cost = equal_cost.var()
print(f"d = 50, {eps.shape[1]} evaluations of f: score var with b = mean of others, "
      f"{eps.shape[1]} samples {equal_cost:.5f}")
print(f"  against b = f(z₁ = μ₁), 16 samples {score_own.var():.5f}; "
      f"pathwise, 16 samples {joint[50][0]:.5f}")
# own[50]/own[5] over 100 seeds: 1.07 ± 0.08, max 1.27 (quick: ± 0.20, max 1.58);
# about 10 if b ignored z_2..z_d
assert ratios_own[50] < ratios[50] / 3 and ratios_own[50] < 2 * ratios_own[5], \
    "the text says this baseline narrows the gap per sample and keeps it about level from d = 5 on"
assert joint[50][0] < equal_cost < score_own.var(), "the text says that at equal evaluations " \
    "of f the mean of the others wins, and the pathwise estimator beats both"

# %% [markdown]
# Per sample, b = f(z₁ = μ₁) narrows the gap and keeps it about level from d = 5 on. Per evaluation of f,
# the mean of the others wins. The pathwise estimator beats both with 16 samples, each one forward and
# one backward pass.

# %% [markdown]
# ### The best constant baseline
# Back in one dimension, why subtract a constant at all? Adding 5 to f changes no gradient. Yet it adds E[(10f + 25)s²] =
# 10·E[f s²] + 5²/σ² to one draw's score-function variance, since E[s] = 0 and E[s²] = 1/σ². The cell
# measures this for sin z, on the draws of "When the pathwise estimator is the noisier": 5²/σ² is
# most of the increase.

# %%
eps = torch.randn(100_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)  # as above
shifted = [e(lambda z: torch.sin(z) + 5, mu0, sigma0, eps)[0].var().item() for e in estimators]
print(f"f = sin z + 5, one draw's variance: pathwise {shifted[0]:.2f}, score function {shifted[1]:.2f} "
      f"(f = sin z: {one_draw['sin z'][0]:.2f}, {one_draw['sin z'][1]:.2f})")
added = shifted[1] - one_draw["sin z"][1]  # E[(10 f + 25) s²], s the score; E[s²] = 1/σ²
f_s2 = (torch.sin(mu0 + sigma0 * eps) * (eps / sigma0) ** 2).mean().item()  # E[f s²], sampled
print(f"the increase, {added:.2f}, against 5²/σ² = {25 / sigma0**2:.2f} plus 10·E[f s²] = {10 * f_s2:.2f}")
assert abs(added / (25 / sigma0**2 + 10 * f_s2) - 1) < 0.05 and 25 / sigma0**2 > 0.8 * added, \
    "adding 5 to f should add 5²/σ² + 10·E[f s²] to one draw's score-function variance, mostly 5²/σ²"

# %% [markdown]
# At d = 1 the mean of the other samples makes the variance *larger* (the cell below shows it). Which constant b is best? Write s for the score (z − μ)/σ². Since E[s] = 0, the mean E[(f − b)s] = E[f s] does not depend on b, so the variance is
# smallest where E[(f − b)² s²] is, and setting its derivative in b to 0 gives
#
# $$b^* = \frac{\mathbb{E}[f\,s^2]}{\mathbb{E}[s^2]}, \qquad \mathbb{E}[s^2] = \frac{1}{\sigma^2}.$$
#
# For the numerator, Stein's lemma, E[h(z)(z − μ)] = σ² E[h′(z)] for z ~ N(μ, σ²) (integration by parts), with
# h(z) = f(z)(z − μ) and then with h = f′:
#
# $$\mathbb{E}[f(z)(z-\mu)^2] = \sigma^2\,\mathbb{E}[f'(z)(z-\mu) + f(z)] = \sigma^2\big(\sigma^2\,\mathbb{E}[f''] + \mathbb{E}[f]\big)
#   = \sigma^2 (1 - \sigma^2)\,\mathbb{E}[f] \quad (f'' = -f \text{ for } f = \sin),$$
#
# so E[f s²] = (1 − σ²) E f / σ² and b* = (1 − σ²)·E f: about half of E f here, so E f overshoots, and the
# mean of 15 other samples adds noise of its own. b* is a mean of f weighted by s², which favours samples
# far from μ: for f = sin and σ > 1 it is below 0 even where E f > 0. The cell compares each b at d = 1, with many
# repeats, then checks b* by sampling at σ = 0.4, 0.7 and 1.2, and against the constant b whose estimates
# vary least.

# %%
eps = torch.randn(20_000, 16, 1, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
mean_f = math.sin(mu0) * math.exp(-sigma0**2 / 2)  # E[sin z], z ~ N(mu0, sigma0^2)
b_values = {"none": None, "b* = (1 - sigma^2) E f": lambda z: (1 - sigma0**2) * mean_f,
            "exact E f": lambda z: mean_f, "mean f of others": baselines["mean of others"]}
var_b = {b: gradients.mean_estimates(score_gradients, f, mu0, sigma0, eps, baseline).var().item()
         for b, baseline in b_values.items()}  # d = 1, n = 16
for b, v in var_b.items():
    print(f"d = 1, b = {b:<24} variance {v:.5f}, {v / var_b['none']:.2f} times no baseline")
per_repeat = lambda v: v.reshape(-1, 16).mean(dim=1)  # one 16-sample estimate per repeat
print(f"{'σ':>4} {'b*, sampled E[f s²]/E[s²]':>26} {'b of least variance':>20}",
      f"{'(1 − σ²) E f':>13}")
for sd in (0.4, sigma0, 1.2):  # 1 − σ² ≈ σ² ≈ ½ at 0.7; 0.4 and 1.2 tell it from σ² E f, E f / 2
    z1, score1 = mu0 + sd * eps.flatten(), eps.flatten() / sd  # every sample, its score (z − μ)/σ²
    b_sampled = (torch.sin(z1) * score1**2).mean() / (score1**2).mean()
    A, B = per_repeat(torch.sin(z1) * score1), per_repeat(score1)  # with baseline b: A − b·B
    b_least = torch.cov(torch.stack([A, B]))[0, 1] / B.var()  # the b whose estimates vary least
    b_formula = (1 - sd**2) * math.sin(mu0) * math.exp(-sd**2 / 2)
    print(f"{sd:>4} {b_sampled:26.4f} {b_least:20.4f} {b_formula:13.4f}")
    assert abs(b_sampled - b_formula) < 0.01 and abs(b_least - b_formula) < 0.02, \
        "b* = E[f s²] / E[s²] should equal (1 − σ²) E f and be the b whose estimates vary least"
assert b_sampled < 0 < math.sin(mu0) * math.exp(-sd**2 / 2), \
    "the text says b* < 0 at σ = 1.2 although E f > 0"
assert var_b["mean f of others"] > var_b["none"], \
    "the text says the leave-one-out baseline increases the variance at d = 1"
assert var_b["b* = (1 - sigma^2) E f"] < min(var_b["none"], var_b["exact E f"]), \
    "the text says b* is the baseline that lowers the variance most, below E f's"

# %% [markdown]
# A constant is the simplest baseline. Baselines can also adapt: a running average of past f (Pyro's
# SVI tutorial, Part III). Or they can be learned: a network that predicts f from the data x (NVIL;
# Mnih & Gregor 2014).
#
# The same tutorial calls dropping the terms not downstream of z₁ (as in "Many dimensions, and baselines") Rao-Blackwellisation;
# Pyro's `TraceGraph_ELBO` does it from the model's structure.
# Strictly, Rao-Blackwellising averages the estimator over z₂ … z_d given z₁: that leaves those terms'
# mean times the score, and dropping that too is a constant baseline.

# %% [markdown]
# ## References
# - Kingma & Welling (2013), Auto-Encoding Variational Bayes, §2.4: https://arxiv.org/abs/1312.6114
# - Rezende, Mohamed & Wierstra (2014), Stochastic Backpropagation and Approximate Inference in Deep
#   Generative Models: https://arxiv.org/abs/1401.4082
# - Williams (1992), Simple statistical gradient-following algorithms for connectionist reinforcement
#   learning, Machine Learning 8: https://doi.org/10.1007/BF00992696
# - Paisley, Blei & Jordan (2012), Variational Bayesian Inference with Stochastic Search:
#   https://arxiv.org/abs/1206.6430
# - Ranganath, Gerrish & Blei (2014), Black Box Variational Inference: https://arxiv.org/abs/1401.0118
# - Mohamed, Rosca, Figurnov & Mnih (2020), Monte Carlo Gradient Estimation in Machine Learning, JMLR 21:
#   https://jmlr.org/papers/v21/19-346.html
# - Pyro's SVI tutorial, Part III (surrogate objective, Rao-Blackwellisation, baselines):
#   https://pyro.ai/examples/svi_part_iii.html
# - Mnih & Gregor (2014), Neural Variational Inference and Learning in Belief Networks (NVIL):
#   https://arxiv.org/abs/1402.0030
# - Jang, Gu & Poole (2017), Categorical Reparameterization with Gumbel-Softmax: https://arxiv.org/abs/1611.01144
# - Maddison, Mnih & Teh (2017), The Concrete Distribution: https://arxiv.org/abs/1611.00712
