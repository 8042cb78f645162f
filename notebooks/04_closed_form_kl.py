# %% [markdown]
# # 04 The closed-form KL: by hand, by sympy, and checked against torch and by sampling
#
# Previous: [03 The reparameterization trick](03_reparameterization.ipynb) · Next: [05 The VAE](05_vae.ipynb)
#
# **Learning goals**
# - Derive KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − log σ² − 1) by hand (Exercise 1), then let sympy
#   *obtain* it; in d dimensions it is a sum.
# - Check it against `vae_lite.kl_standard_normal`, torch's `kl_divergence` and Monte Carlo (Exercise 2).
# - See why the closed form matters: one sample of the KL is noisy.
#
# The VAE's loss is reconstruction error + KL(q(z|x) ‖ p(z)) (notebook 02). The reconstruction term
# needs samples (notebook 03); for Gaussians the KL term does not: it has a closed form (Kingma &
# Welling, 2013, Appendix B, written there as −KL). Optional: [a map, with minutes](#Optional).

# %% [markdown] tags=["badges"]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-lite/vae_lite/blob/main/notebooks/04_closed_form_kl.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/vae-lite/vae_lite/main?labpath=notebooks%2F04_closed_form_kl.ipynb)

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
from IPython.display import Math, display
from torch.distributions import Independent, Normal, kl_divergence

import vae_lite
from vae_lite import check, gradients, plots, pretrained, symbolic, widgets

QUICK = vae_lite.setup_notebook()

# %% [markdown]
# ## Derivation
#
# KL(q ‖ p) = ∫ q(z) log(q(z)/p(z)) dz with q = N(μ, σ²) and p = N(0, 1). Here q(z) is the encoder's
# q(z|x) for one image x; x stays fixed, so it is dropped. The log-ratio of two Gaussian densities is a
# quadratic in z:

# %% tags=["nbval-check-output"]
z, mu, sigma = symbolic.z, symbolic.mu, symbolic.sigma
log_ratio = symbolic.log_normal(z, mu, sigma) - symbolic.log_normal(z, 0, 1)  # written out
grouped = sp.Add(-sp.log(sigma), -(z - mu) ** 2 / (2 * sigma**2), z**2 / 2, evaluate=False)
display(Math(r"\log \frac{q(z)}{p(z)} = " + symbolic.latex(grouped)))
assert symbolic.is_zero(log_ratio - grouped), "the grouped form should equal sympy's log-ratio"

# %% [markdown]
# ### By hand, in three lines
# With log q(z) = −log √(2π) − log σ − (z − μ)²/(2σ²) and log p(z) = −log √(2π) − z²/2:
#
# 1. log q(z) − log p(z) = −log σ − (z − μ)²/(2σ²) + z²/2 (the log √(2π) cancel).
#
# **Exercise 1 (5 min), pen and paper.** Take E_q of line 1, term by term. You need E_q[(z − μ)²] and
# E_q[z²] for z ~ N(μ, σ²). Write the KL in μ and σ², then read on.

# %% [markdown] jupyter={"source_hidden": true} tags=["solution"]
# **Exercise 1, solution.**
#
# 2. Two facts about z ~ N(μ, σ²): E_q[(z − μ)²] = σ² (the definition of the variance) and
#    E_q[z²] = Var z + (E z)² = σ² + μ².
# 3. Take E_q term by term: KL = −log σ − σ²/(2σ²) + (σ² + μ²)/2 = ½(μ² + σ² − log σ² − 1).

# %% [markdown]
# ### By sympy
# Sympy integrates the log-ratio against q over the real line (`vae_lite.symbolic.kl_gaussians`), term
# by term, without first working out E_q[(z − μ)²] and E_q[z²]; nothing is typed in:

# %% tags=["nbval-check-output"]
kl = symbolic.kl_standard_normal()
display(Math(r"\mathrm{KL}(\mathcal{N}(\mu, \sigma^2) \,\|\, \mathcal{N}(0, 1)) = " + sp.latex(kl)))
kl_var, var = symbolic.in_terms_of_variance(kl)
display(Math(r"\text{in terms of } \sigma^2: \quad " + sp.latex(kl_var)))
hand = (mu**2 + sigma**2 - sp.log(sigma**2) - 1) / 2  # Exercise 1's result, typed in to compare
assert symbolic.is_zero(kl - hand), "sympy's integral should equal the hand result"

# %% [markdown]
# That is ½(μ² + σ² − log σ² − 1), Exercise 1's result (the cell asserts it).
#
# > **Predict, then run.** Can this KL ever be negative? For which (μ, σ) is it 0? The cell writes it
# > as μ²/2 + g(σ²)/2 with g(t) = t − 1 − log t, and has sympy study g.

# %% tags=["nbval-check-output"]
proof = symbolic.kl_is_never_negative(kl)
print("KL - (mu^2/2 + g(sigma^2)/2) simplifies to", sp.simplify(proof["residual"]),
      "  with g(t) =", proof["g"])
print("g''(t) =", proof["second_derivative"], "  positive for every t > 0:", proof["convex"])
print("g'(t) = 0 at t =", proof["stationary"], "  where g =", proof["minimum"])
# the check on the KL: the residual ties g to it (the asserts on g check only the study of g)
assert symbolic.is_zero(proof["residual"]), "the KL should be mu^2/2 + g(sigma^2)/2"
assert proof["convex"] is True and proof["stationary"] == [1] and proof["minimum"] == [0], \
    "g's study"

# %% [markdown]
# μ²/2 is ≥ 0. g is convex with one stationary point, t = 1, where g = 0; so g(t) ≥ 0, with equality
# only at t = 1. The KL is 0 only at μ = 0, σ = 1, where q is the prior, and positive everywhere else:
# the Gaussian case of KL ≥ 0 (notebook 02).
#
# *Figure: log t never rises above its tangent t − 1 at t = 1 (black dot); the shaded gap is g(t) ≥ 0.*

# %%
plots.plot_log_below_tangent();

# %% [markdown]
# ### d dimensions: a sum
# In 2-d, sympy writes log q(z) from q's covariance matrix Σ = diag(σ₁², σ₂²), with det Σ and Σ⁻¹,
# integrates over the plane against q itself (nothing split by hand) and compares with two 1-d KLs:

# %% tags=["nbval-check-output"]
kl_2d, means_2d, stds_2d, log_q_2d = symbolic.kl_diagonal(2)
display(Math(r"\log q(z) = " + sp.latex(log_q_2d)))
display(Math(r"\mathrm{KL}_{2\text{-d}} = " + sp.latex(kl_2d)))
per_dimension = sum(kl.subs({symbolic.mu: m, symbolic.sigma: sd}) for m, sd in zip(means_2d, stds_2d))
residual_2d = sp.simplify(sp.expand_log(kl_2d - per_dimension, force=True))
print("KL_2d - (KL of dimension 1 + KL of dimension 2) simplifies to", residual_2d)
assert residual_2d == 0, "the 2-d KL should be the sum of the two 1-d KLs"

# %% [markdown]
# Why a sum: det Σ = σ₁²σ₂² is a product and Σ⁻¹ is diagonal, so log q is a sum (first line), and so
# is the KL.

# %% [markdown]
# ## Experiments
#
# ### The formula in code, against torch
# For a few (μ, σ): sympy's formula, `vae_lite.kl_standard_normal` (the code the VAE trains with, taking
# log σ²), and `torch.distributions.kl_divergence`, written apart from both: the independent check.

# %% tags=["nbval-check-output"]
cases = [(0.0, 1.0), (1.0, 1.0), (0.0, 2.0), (0.0, 0.5), (-1.5, 0.3), (2.0, 3.0)]
kl_fn = sp.lambdify((symbolic.mu, symbolic.sigma), kl, "math")
rows = []
print(f"{'mu':>5} {'sigma':>6} {'sympy':>9} {'vae_lite':>9} {'torch':>9}")
for m, sd in cases:
    mu_t, sd_t = (torch.tensor([[v]], dtype=torch.float64) for v in (m, sd))
    ours = vae_lite.kl_standard_normal(mu_t, 2 * sd_t.log()).item()
    theirs = kl_divergence(Normal(mu_t, sd_t), Normal(0.0, 1.0)).item()
    rows.append((kl_fn(m, sd), ours, theirs))
    print(f"{m:5.1f} {sd:6.1f} {rows[-1][0]:9.5f} {ours:9.5f} {theirs:9.5f}")
exact, by_vae_lite, by_torch = (torch.tensor(column, dtype=torch.float64) for column in zip(*rows))
assert (by_torch - exact).abs().max() < 1e-10, "torch and sympy disagree"
wrong = {what: sp.lambdify((symbolic.mu, symbolic.sigma), form, "math")
         for what, form in symbolic.kl_wrong_forms(kl).items()}
seen = [what for what, f in wrong.items()  # the common mistakes that give vae_lite's numbers
        if all(abs(f(*c) - v) < 1e-9 for c, v in zip(cases, by_vae_lite))]
assert (by_vae_lite - exact).abs().max() < 1e-10, \
    "vae_lite.kl_standard_normal disagrees with sympy" + (f": it has {seen[0]}" if seen else "")

# %% [markdown]
# ### By sampling: Monte Carlo with its standard error
# KL = E_q[log q(z) − log p(z)]: the mean of log q(z) − log p(z) over n samples z ~ q estimates it,
# with standard error (the terms' standard deviation)/√n.
#
# **Exercise 2 (8 min).** Write `kl_monte_carlo(mu, sigma, n)`: draw n samples z ~ q = N(μ, σ²); return
# the mean of log q(z) − log p(z), p = N(0, 1), and its standard error. `sigma` is the standard
# deviation: torch's `Normal(mu, sigma)` takes σ, not σ². The checker runs seven (μ, σ, n). Each passes
# if your estimate is within 6 standard errors of the exact KL and your standard error within 10 % of
# the formula's (derived below).

# %%
def kl_monte_carlo(mu, sigma, n):
    """KL(N(mu, sigma^2) || N(0, 1)) from n samples z ~ q; sigma is the standard deviation."""
    raise NotImplementedError  # your code here


check.kl_monte_carlo(kl_monte_carlo);

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution
def kl_monte_carlo(mu, sigma, n):
    z = mu + sigma * torch.randn(n, dtype=torch.float64)  # n draws z ~ q
    terms = Normal(mu, sigma).log_prob(z) - Normal(0.0, 1.0).log_prob(z)
    return terms.mean().item(), terms.std().item() / math.sqrt(n)


assert check.kl_monte_carlo(kl_monte_carlo)

# %% [markdown]
# ### 50 dimensions, as in the VAE
# A diagonal Gaussian with notebook 05's 50 latent dimensions, random μ and log σ².
# `vae_lite.kl_standard_normal` sums the per-dimension KLs; torch's `Independent(·, 1)` does too, in its
# own code.

# %% tags=["nbval-check-output"]
g = torch.Generator().manual_seed(0)
d = 50  # the latent dimensions of the package's default VAE (notebook 05)
mu_d, logvar_d = (torch.randn(d, generator=g, dtype=torch.float64) for _ in range(2))
kl_50d = vae_lite.kl_standard_normal(mu_d, logvar_d).item()
q_d = Independent(Normal(mu_d, (0.5 * logvar_d).exp()), 1)
p_d = Independent(Normal(torch.zeros(d, dtype=torch.float64), 1.0), 1)
theirs = kl_divergence(q_d, p_d).item()
by_sympy = sum(kl_fn(m, math.exp(lv / 2)) for m, lv in zip(mu_d.tolist(), logvar_d.tolist()))
print(f"{d}-d KL: vae_lite {kl_50d:.6f}, torch {theirs:.6f}, "
      f"sum of sympy's 1-d formula {by_sympy:.6f}")
assert abs(theirs - by_sympy) < 1e-9, "torch and sympy disagree"
averaged = abs(kl_50d - by_sympy / d) < 1e-9  # the common mistake: the mean over the dimensions
assert abs(kl_50d - by_sympy) < 1e-9, (
    f"vae_lite.kl_standard_normal gives {kl_50d:.4f}, the sum of the 1-d KLs is {by_sympy:.4f}"
    + (": it averages over the dimensions instead of summing" if averaged else ""))

# %% [markdown]
# ### Why a closed form: one sample of the KL is noisy
# The KL could be sampled, as the reconstruction term is: one z ~ q per image and log q(z) − log p(z),
# unbiased (TensorFlow's CVAE tutorial does this, "for simplicity"). How noisy is it for the q above?
#
# *Figure: a histogram of 10,000 such one-sample estimates, with the closed form as a black line.*

# %%
torch.manual_seed(2)
z = q_d.sample((10_000,))  # 10,000 draws of z ~ q, each a one-sample estimate of the KL below
one_sample = q_d.log_prob(z) - p_d.log_prob(z)
print(f"closed form: {kl_50d:.2f} nats; one-sample estimates: mean {one_sample.mean():.2f}, "
      f"median {one_sample.median():.2f}, standard deviation {one_sample.std():.2f} nats")
figure = plots.plot_histograms({"one-sample estimates": one_sample}, "estimate of the KL (nats)")
figure.axes[0].set_ylabel("density (per nat)")
figure.axes[0].axvline(kl_50d, color="black", linewidth=2, label=f"closed form, {kl_50d:.2f}")
figure.axes[0].legend();

# %% jupyter={"source_hidden": true}
assert abs(one_sample.mean() - kl_50d) < 5 * one_sample.std() / math.sqrt(len(one_sample)), "unbiased"
assert one_sample.median() < one_sample.mean() - 0.5, "the text: the histogram leans right"
assert 0.28 < one_sample.std() / kl_50d < 0.4, "the text: the standard deviation is about a third of the KL"

# %% [markdown]
# For this random q, one sample is off by about a third of the KL; the closed form is exact. Here the
# histogram leans right, its median below its mean ([why](#Optional:-why-one-sample-of-the-KL-leans-right)).
#
# How far off depends on q. Put z = μ + σε into line 1 of the hand derivation. Per dimension:
# 1. log q(z) − log p(z) = −log σ − ε²/2 + (μ + σε)²/2 = constant + μσε + (σ² − 1)ε²/2.
# 2. Var ε = 1, Var ε² = 2, Cov(ε, ε²) = E ε³ = 0, so its variance is μ²σ² + (σ² − 1)²/2.
# 3. The dimensions are independent: one sample's variance is Σᵢ(μᵢ²σᵢ² + (σᵢ² − 1)²/2) (`sd_of`).
#
# A preview of notebook 05: the cell loads a VAE trained there. Its encoder maps an image x to the μ
# and log σ² of q(z|x). The cell compares the random q with q(z|x) for the first MNIST test image,
# whose σ are at most 1 (a dimension the encoder does not use sits near μ = 0, σ = 1, KL near 0). The
# last line: the noise of log p(x|z), the term that must be sampled anyway.

# %%
sd_of = lambda mu, lv: (mu**2 * lv.exp() + (lv.exp() - 1) ** 2 / 2).sum().sqrt().item()
data = vae_lite.load_dataset()  # MNIST (if it is missing: the 8x8 digits, and a model for them)
if QUICK:  # on other data the VAE is trained on these images (05-08 take the same), then cached
    data = data.subset(train=3000, test=1000)
vae = pretrained.default_model(data)  # notebook 05's VAE
x_test = vae_lite.binarized_test_set(data)  # 0/1 pixels: a Bernoulli likelihood is a true one there
with torch.no_grad():  # its encoder's q(z|x) for the first test image x; log p(x|z) for 1,000 z ~ q(z|x)
    mu_x, logvar_x = (t[0].double() for t in vae.encode(x_test[:1]))
    z_x = mu_x + (0.5 * logvar_x).exp() * torch.randn(1000, d, dtype=torch.float64)
    reconstruction_sd = vae.log_likelihood(x_test[:1], z_x.float()).std().item()
for name, m, lv in (("random q", mu_d, logvar_d), ("encoder's q", mu_x, logvar_x)):
    sd, kl_q = (0.5 * lv).exp(), vae_lite.kl_standard_normal(m, lv).item()
    print(f"{name:11}: sigma from {sd.min():.2f} to {sd.max():.2f}, KL {kl_q:4.1f} nats, "
          f"one sample off by {sd_of(m, lv):4.1f} nats ({sd_of(m, lv) / kl_q:.0%} of it)")
print(f"reconstruction term log p(x|z), same image: one sample off by {reconstruction_sd:4.1f} nats")

# %% jupyter={"source_hidden": true}
assert abs(sd_of(mu_d, logvar_d) / one_sample.std() - 1) < 0.03, "the formula should match the measured spread"
kl_x, sd_x = vae_lite.kl_standard_normal(mu_x, logvar_x).item(), sd_of(mu_x, logvar_x)
if data.name == "mnist":  # the text describes MNIST's encoder (and its 50 dimensions)
    assert logvar_x.max() < 0.02 and len(mu_x) == d, "the text: the encoder's sigma at most 1; d = 50"
    assert sd_x / kl_x < 0.5 * sd_of(mu_d, logvar_d) / kl_50d and sd_x > 3, "the text: smaller share, several nats"
    assert 0.5 < reconstruction_sd / sd_x < 2, "the text: the two terms' one-sample noise is about the same"

# %% [markdown]
# For the encoder's q, one sample is off by a smaller share of the KL, yet by several nats: the same
# order as log p(x|z), which is sampled anyway. The closed form removes this noise of the KL's value
# for free (its effect on the gradient in training: [Optional](#Optional:-what-the-closed-form-buys-in-training)).
#
# This closed form needs Gaussian q and p. A mixture prior (VampPrior, Tomczak & Welling, 2018) or a
# flow posterior (Rezende & Mohamed, 2015) has none: the KL is sampled (Exercise 5, Optional).

# %% [markdown]
# ## Common mistakes
#
# > **Common mistake.** The write-up (the course's summary of Kingma & Welling) has, as notebook 02's
# > line W3, `σ = E[(x-μ)²]`: that is the variance σ². Put σ where σ² belongs and the KL is wrong, e.g.
# > ½(μ² + σ − log σ − 1). The encoder outputs `logvar` = log σ², so σ² = `logvar.exp()`. The cell
# > compares both forms with Monte Carlo.

# %%
m, sd = 0.0, 2.0
right = kl_fn(m, sd)
wrong = 0.5 * (m**2 + sd - math.log(sd) - 1)  # sigma in place of sigma^2
z = m + sd * torch.randn(200_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
mc = (Normal(m, sd).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).mean().item()
print(f"sigma = 2: right {right:.4f}, wrong {wrong:.4f}, Monte Carlo {mc:.4f}")
assert abs(mc - right) < 0.02 and abs(mc - wrong) > 0.2

# %% [markdown]
# > **Common mistake.** The write-up's loss `||x - x̂||² - KL[N(μ,σ²) || N(0,I)]` has the KL's sign
# > wrong: [06](06_loss_right_and_wrong.ipynb#1.-The-sign-of-the-KL) trains it and it fails.
#
# > **Common mistake.** The write-up's `p(z|x) ~ N(0,I)` calls N(0, I) the posterior. It is the
# > **prior** p(z), and the KL against it has this closed form. The KL to the *posterior* p(z|x),
# > notebook 02's gap, cannot be computed for a neural decoder: p(z|x) is unknown.
#
# > **Common mistake.** Averaging instead of summing. The KL of a diagonal Gaussian is a **sum** over
# > the latent dimensions; averaging divides it by d, a KL weight β = 1/d. Averaging the
# > *reconstruction* over D pixels weighs the KL D times more (β = D). [06](06_loss_right_and_wrong.ipynb)
# > trains both.

# %% tags=["nbval-check-output"]
print(f"{d}-d example: sum {kl_50d:.3f}, "
      f"mean over dimensions {kl_50d / d:.3f} (a weight of 1/{d})")

# %% [markdown]
# ## Summary
# - KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − log σ² − 1), by hand and by sympy's integral; it is 0 only
#   when q is the prior. For a diagonal Gaussian it is the sum over dimensions.
# - It agrees with `vae_lite.kl_standard_normal`, torch and Monte Carlo, and it is exact, where one
#   sample of the KL is off by several nats.
# - Next: [05 The VAE](05_vae.ipynb) puts both terms together and trains the model.

# %% [markdown]
# ## Optional
# Each section needs only the core part.
# - [Exercise 3](#Optional:-Exercise-3,-the-closed-form-in-code), 4 min: the closed form in code, from μ
#   and log σ².
# - [Explore](#Optional:-explore), 1 min: a widget; move μ and σ, watch the KL.
# - [Too narrow against too wide](#Optional:-too-narrow-against-too-wide), 6 min: how fast the KL grows
#   as σ → 0 and as σ → ∞.
# - [Why one sample leans right](#Optional:-why-one-sample-of-the-KL-leans-right), 5 min: the third
#   moment of the core part's histogram.
# - [The closed form in training](#Optional:-what-the-closed-form-buys-in-training), 14 min: two
#   estimators of the ELBO train the same VAE; gradient noise and test loss.
# - [Two Gaussians, Exercise 4](#Optional:-the-KL-of-two-Gaussians,-Exercise-4), 25 min, 20 of them
#   homework: the KL to a Gaussian p other than N(0, 1).
# - [A KL with no closed form, Exercise 5](#Optional:-a-KL-with-no-closed-form,-Exercise-5), 41 min, 25
#   of them homework: a mixture prior, by sampling with `logsumexp`.
#
# A second class: the first five (30 min), then the in-class parts of Exercises 4 and 5. For home: the
# homework of Exercises 4 and 5.

# %% [markdown]
# ## Optional: Exercise 3, the closed form in code
#
# **Exercise 3 (3 min).** The encoder outputs μ and `logvar` = log σ², not σ. Write
# `kl_closed_form(mu, logvar)`: KL(N(μ, exp(logvar)) ‖ N(0, I)) for each row (example), summed over the
# last dimension, in `mu` and `logvar` alone. The checker names the common mistakes if it sees one.

# %%
def kl_closed_form(mu, logvar):
    raise NotImplementedError  # your code here


check.kl_closed_form(kl_closed_form);

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution
def kl_closed_form(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=-1)


assert check.kl_closed_form(kl_closed_form)

# %% [markdown]
# ## Optional: explore
# Move μ and σ: the two densities, the closed-form KL and a Monte Carlo estimate.
#
# *Figure (widget; a still without a live kernel): the prior N(0, 1), grey, and q = N(μ, σ²), shaded
# blue; the closed-form KL and the Monte Carlo estimate (2,000 draws, the same ε for every slider
# position) ± one standard error in the title (under the plot when live).*

# %%
display(widgets.KLExplorer())

# %% [markdown]
# ## Optional: too narrow against too wide
#
# For q = N(0, σ²) and p = N(0, 1), how does the KL grow as σ → 0 and as σ → ∞? Sympy's `limit` says:
# both limits are infinite, but near 0 the KL grows like −log σ (the −log σ² term: a too-narrow q is
# punished only logarithmically), and for large σ like σ²/2 (the σ² term: a too-wide q, quadratically).

# %%
sig = symbolic.sigma
kl_0 = kl.subs(symbolic.mu, 0)
near_0 = sp.limit(kl_0 / -sp.log(sig), sig, 0, "+")  # the ratio to -log sigma, as sigma -> 0
near_oo = sp.limit(kl_0 / (sig**2 / 2), sig, sp.oo)  # the ratio to sigma^2 / 2, as sigma -> oo
print("sigma -> 0:  ", sp.limit(kl_0, sig, 0, "+"), "  KL / (-log sigma) ->", near_0)
print("sigma -> oo: ", sp.limit(kl_0, sig, sp.oo), "  KL / (sigma^2 / 2) ->", near_oo)
assert near_0 == 1 and near_oo == 1, "the text: like -log sigma near 0, like sigma^2 / 2 for large"

# %% [markdown]
# As a picture, on a log scale of σ, where σ ten times too small and ten times too large sit equally
# far from σ = 1:
#
# *Figure: the KL of q = N(0, σ²) against σ from 0.1 to 10 (log scale), with −log σ (dashed) and σ²/2
# (dotted); the two dots mark σ = 0.1 and σ = 10, with their KL.*

# %%
import matplotlib.pyplot as plt

kl_0_fn = sp.lambdify(sig, kl_0, "math")
grid = [10 ** (k / 100) for k in range(-100, 101)]  # sigma from 0.1 to 10
_, ax = plt.subplots(figsize=(10, 4), layout="constrained")
ax.semilogx(grid, [kl_0_fn(sd) for sd in grid], color="black", label="KL(N(0, σ²) ‖ N(0, 1))")
ax.semilogx(grid, [-math.log(sd) for sd in grid], "--", label="−log σ (too narrow)")
ax.semilogx(grid, [sd**2 / 2 for sd in grid], ":", label="σ²/2 (too wide)")
narrow_10, wide_10 = kl_0_fn(0.1), kl_0_fn(10.0)
for at, value, offset, side in ((0.1, narrow_10, (12, 12), "left"), (10.0, wide_10, (-14, 0), "right")):
    ax.plot(at, value, "o", color="black", markersize=8, clip_on=False)
    ax.annotate(f"σ = {at:g}: KL {value:.1f} nats", (at, value), xytext=offset, textcoords="offset points",
                ha=side, va="center")
ax.set(xlabel="σ (log scale)", ylabel="KL (nats)", xlim=(0.1, 10), ylim=(0, 52))
ax.set_xticks([0.1, 1, 10], labels=["0.1", "1", "10"])
ax.legend(loc="upper center");
assert wide_10 > 20 * narrow_10, "the text: a too-wide q costs far more than an equally too-narrow one"

# %% [markdown]
# ## Optional: why one sample of the KL leans right
#
# Per dimension, one sample of the KL is a constant plus X = bε + aε², with a = (σ² − 1)/2 and b = μσ
# (the core part). Sympy takes X's third central moment, which measures the lean: positive for a long
# right tail, negative for a long left one. It has the sign of a: a dimension with σ > 1 leans right,
# one with σ < 1 leans left. The dimensions are independent, so these moments add. The cell sums them
# for the random q of the histogram and compares with the third moment of its 10,000 one-sample
# estimates (± its standard error).

# %%
sa, sb = sp.symbols("a b", real=True)
term = sb * symbolic.eps + sa * symbolic.eps**2  # one dimension, less its constant
centred = term - symbolic.expectation(term, symbolic.eps, 0, 1)
third = symbolic.expectation(centred**3, symbolic.eps, 0, 1)
display(Math(r"\mathrm{E}[(X - \mathrm{E}X)^3] = " + sp.latex(sp.factor(third))))
a_d, b_d = (logvar_d.exp() - 1) / 2, mu_d * (0.5 * logvar_d).exp()
per_dim = 8 * a_d**3 + 6 * a_d * b_d**2
wide = logvar_d > 0  # sigma > 1
cubes = (one_sample - one_sample.mean()) ** 3
measured, measured_se = cubes.mean().item(), cubes.std().item() / math.sqrt(len(cubes))
print(f"{wide.sum()} of {d} dimensions have sigma > 1; their third moments sum to {per_dim[wide].sum():+.0f}, "
      f"the other {(~wide).sum()}'s to {per_dim[~wide].sum():+.0f}")
print(f"all {d}: {per_dim.sum():.0f}; measured on the 10,000 one-sample estimates: {measured:.0f} ± {measured_se:.0f}")

# %% jupyter={"source_hidden": true}
assert symbolic.is_zero(third - (8 * sa**3 + 6 * sa * sb**2)), "the text: the third moment has the sign of a"
assert per_dim[wide].sum() > 10 * -per_dim[~wide].sum(), "the text: the dimensions with sigma > 1 decide the lean"
assert abs(measured - per_dim.sum().item()) < 3 * measured_se, "the formula should match the measured third moment"

# %% [markdown]
# Measured and formula agree within about two standard errors. For a given μ the lean of a narrow dimension is
# capped (a = (σ² − 1)/2 cannot fall below −½, so 8a³ + 6ab² ≥ −1 − 3μ²σ²), while a wide one's grows like σ⁶:
# with this q's μ from N(0, 1), the dimensions with σ > 1 outweigh the rest (printed), the histogram leans
# right, and here its median is below its mean. The
# encoder's q has its σ at or below about 1, so its dimensions lean left or hardly at all.

# %% [markdown]
# ## Optional: what the closed form buys in training
#
# One sample of the KL is noisy on the same order as log p(x|z) (the core part). Both terms use the same z, so
# their noises are correlated: training feels the noise of the whole gradient. Kingma & Welling (2013,
# §2.3) give two estimators of the ELBO. **A** samples all of it, log p(x|z) + log p(z) − log q(z|x), at
# one z per image. **B** takes the KL in closed form, as `vae_lite.elbo` does. They expect B to have
# "typically less variance". Typically, not always: were q(z|x) the true posterior p(z|x), the value of
# A's one-draw ELBO, log p(x, z) − log q(z|x) = log p(x), would not depend on z at all, while B's still
# varies with z through log p(x|z). (A's gradient in φ would still be noisy there: a score term with mean 0
# remains, which the path-derivative estimator of Roeder et al. (2017) drops.) So the cell measures which
# gradient is noisier here.
#
# For each of three seeds, two copies of one untrained VAE train, one with each estimator, on the same
# batches and ε: 400 steps of 128 images, 0.85 epoch (early training, far from converged). Every 50
# steps the cell records, for each run:
# - the test loss: B's negative ELBO on 1,000 test images, the same ε for both runs, and the standard
#   error (SE) of A's minus B's, paired image by image;
# - the gradient noise Σ_w Var_ε(∂L/∂w): on one fixed batch of 128 training images, the variance over
#   ε (10 draws) of the gradient of the batch's mean loss L, summed over the encoder's weights w (the
#   KL does not reach the decoder). It is taken for both losses at the run's weights, so that A and B
#   can be compared at the same weights (B's run), not only each at its own run's.
#
# *Figure: against the training step, one line per seed: A's test loss minus B's (left, from step 50)
# and A's gradient noise over B's (right, log scale), at the same weights (solid) and each at its own
# run's weights (dashed).*

# %%
def sampled_kl_loss(model, x):  # estimator A, negated, per image: the KL sampled at the reconstruction's z
    mu, logvar = model.encode(x)
    z = vae_lite.reparameterize(mu, logvar)  # one z per image
    log_ratio = Normal(mu, (0.5 * logvar).exp()).log_prob(z) - Normal(0.0, 1.0).log_prob(z)
    return log_ratio.sum(-1) - model.log_likelihood(x, z)  # log q(z|x) - log p(z) - log p(x|z)


losses = {"A, sampled KL": sampled_kl_loss, "B, closed-form KL": lambda model, x: model.loss(x)[0]}
seeds, steps = ((0,), 100) if QUICK else ((0, 1, 2), 400)
by_seed = [gradients.train_with_each(losses, data, x_test[:300 if QUICK else 1000], steps=steps, every=50, seed=seed)
           for seed in seeds]
A, B = losses  # the two names
records = range(len(by_seed[0][A]["step"]))
over_seeds = lambda value: [[value(runs, i) for runs in by_seed] for i in records]  # per record, per seed
gap = over_seeds(lambda runs, i: runs[A]["test_loss"][i] - runs[B]["test_loss"][i])
same = over_seeds(lambda runs, i: runs[B]["gradient_variance_by_loss"][A][i] / runs[B]["gradient_variance"][i])
own = over_seeds(lambda runs, i: runs[A]["gradient_variance"][i] / runs[B]["gradient_variance"][i])
noise_B = over_seeds(lambda runs, i: runs[B]["gradient_variance"][i])
paired = over_seeds(lambda runs, i: torch.tensor(runs[A]["test_losses"][i]) - torch.tensor(runs[B]["test_losses"][i]))
se = [[d_.std().item() / math.sqrt(len(d_)) for d_ in per_seed] for per_seed in paired]  # per record, per seed
span = lambda values, digits: f"{min(values):.{digits}f} to {max(values):.{digits}f}"
print(f"min to max over {len(seeds)} seed(s)                    gradient noise, A / B:")
print(" step  test loss, A - B (largest SE)   same weights     own weights   B's noise")
for i in records:
    print(f"{by_seed[0][A]['step'][i]:5d} {span(gap[i], 1):>17} ({max(se[i]):.2f}) {span(same[i], 2):>16} "
          f"{span(own[i], 2):>15} {span(noise_B[i], 0):>11}")
plots.plot_estimator_runs(by_seed);

# %% jupyter={"source_hidden": true}
assert all(min(g) > 0 for g in gap[1:]), "the text: B's test loss the lower at every record from step 50"
assert data.name != "mnist" or (all(min(r) > 1.2 for r in same) and all(min(r) > 1 for r in own)), \
    "the text: on MNIST, A the noisier at every record"
if data.name == "mnist" and not QUICK:  # the text's numbers: MNIST, three seeds, 400 steps
    assert 7 < min(same[0]) and max(same[0]) < 15, "the text: about ten times at step 0"
    assert all(1.3 < min(r) and max(r) < 2 for r in same[1:]), "the text: then 1.36 to 1.83 at the same weights"
    assert all(x > y for x, y in zip(same[1], same[-1])), "the text: falling slowly, in every seed"
    assert all(o < s_ for o_r, s_r in zip(own[2:], same[2:]) for o, s_ in zip(o_r, s_r)), \
        "the text: from step 100, smaller each at its own run's weights"
    assert min(noise_B[-1]) > 100 * max(noise_B[0]), "the text: B's noise grows a hundredfold and more"
    assert 0.1 < min(gap[1]) and max(gap[1]) < 1 and 1.5 < min(gap[-1]) and max(gap[-1]) < 4, \
        "the text: the test-loss gap, 0.2 to 0.8 nats at step 50, 1.7 to 3.6 at step 400"
    assert all(g > 2 * e for g_r, e_r in zip(gap[1:], se[1:]) for g, e in zip(g_r, e_r)), \
        "the text: every gap from step 50 more than twice its paired standard error"

# %% [markdown]
# A's gradient is the noisier at every record, in every seed. At step 0 both runs have the same
# weights, the two losses differ only in the KL term, and A's noise is about ten times B's. Then the
# reconstruction's noise (all of B's) grows more than a hundredfold as the decoder learns. At the same
# weights A's noise stays 1.36 to 1.83 times B's from step 50 on, falling slowly. From step 100, the
# factor taken each at its own run's weights is smaller (1.19 to 1.31 at step 400): the two runs have
# moved apart, and that ratio mixes the estimators' noise with where each run has got to.
#
# B's test loss is lower than A's at every record from step 50, in every seed, each time by more than
# twice the paired SE: by 0.2 to 0.8 nats at step 50 (SE at most 0.09) and by 1.7 to 3.6 nats at step
# 400 (SE at most 0.20). So the noisier gradient slows early training a little.
# Three seeds and 0.85 epoch say nothing about what either estimator reaches when trained to the end.

# %% [markdown]
# ## Optional: the KL of two Gaussians, Exercise 4
#
# The core part's integral again, now with p = N(μ_p, σ_p²), as for a learned conditional prior: a
# Gaussian whose μ_p and σ_p a network computes from the input (Sohn et al., 2015). Exercise 4 derives
# it by hand. The cell checks three facts: μ_p = 0, σ_p = 1 gives back the hand result; swapping q and
# p changes the number (KL is not symmetric); and torch's `kl_divergence` agrees on the swapped KL,
# whose second Gaussian is not N(0, 1).

# %% tags=["nbval-check-output"]
mu_q, sigma_q = symbolic.mu_q, symbolic.sigma_q
mu_p, sigma_p = sp.Symbol("mu_p", real=True), sp.Symbol("sigma_p", positive=True)
kl_general = symbolic.kl_gaussians(mu_q, sigma_q, mu_p, sigma_p)  # sympy's integral, general p
back = kl_general.subs({mu_p: 0, sigma_p: 1, mu_q: symbolic.mu, sigma_q: symbolic.sigma}) - hand
print("with mu_p = 0, sigma_p = 1 it differs from the hand result by", sp.simplify(back))
assert symbolic.is_zero(back), "the general formula should give back the hand result"
example = {mu_q: 1, sigma_q: sp.Rational(1, 2), mu_p: 0, sigma_p: 1}
q_to_p = float(kl_general.subs(example))
p_to_q = float(kl_general.subs({mu_q: 0, sigma_q: 1, mu_p: 1, sigma_p: sp.Rational(1, 2)}))  # swapped
normal = lambda m, sd: Normal(torch.tensor(m, dtype=torch.float64), sd)
by_torch = kl_divergence(normal(0.0, 1.0), normal(1.0, 0.5)).item()  # KL(p || q), second Gaussian N(1, 0.5^2)
print(f"KL(q || p) = {q_to_p:.4f}, KL(p || q) = {p_to_q:.4f} (torch: {by_torch:.4f}) "
      "for q = N(1, 0.5^2), p = N(0, 1)")
assert abs(p_to_q - by_torch) < 1e-12, "sympy's general KL and torch's disagree"
assert abs(q_to_p - p_to_q) > 0.1, "the text says swapping q and p changes the KL"

# %% [markdown]
# **Exercise 4, homework (20 min).** Derive KL(N(μ_q, σ_q²) ‖ N(μ_p, σ_p²)) by hand with the three
# lines of the core's hand derivation (hint: E_q[(z − μ_p)²] = σ_q² + (μ_q − μ_p)²). Enter it as
# `by_hand`, a sympy expression in `mu_q`, `sigma_q`, `mu_p`, `sigma_p` (`sp.log` for log). Then write
# `kl_two_gaussians(mu_q, logvar_q, mu_p, logvar_p)`: the KL of two diagonal Gaussians for each row,
# summed over the last dimension. The checker names the mistakes it recognises.

# %%
by_hand = None  # your result, a sympy expression in mu_q, sigma_q, mu_p, sigma_p


def kl_two_gaussians(mu_q, logvar_q, mu_p, logvar_p):
    raise NotImplementedError  # your code here


check.kl_two_gaussians(kl_two_gaussians, by_hand);

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution: log q - log p
#   = log(sigma_p / sigma_q) - (z - mu_q)^2 / (2 sigma_q^2) + (z - mu_p)^2 / (2 sigma_p^2);
# its mean under q is log(sigma_p / sigma_q) - 1/2 + (sigma_q^2 + (mu_q - mu_p)^2) / (2 sigma_p^2).
by_hand = sp.log(sigma_p / sigma_q) + (sigma_q**2 + (mu_q - mu_p) ** 2) / (2 * sigma_p**2) - sp.Rational(1, 2)


def kl_two_gaussians(mu_q, logvar_q, mu_p, logvar_p):
    return 0.5 * (logvar_p - logvar_q - 1
                  + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp()).sum(dim=-1)


assert check.kl_two_gaussians(kl_two_gaussians, by_hand)

# %% [markdown]
# ## Optional: a KL with no closed form, Exercise 5
# For a mixture prior, as in the VampPrior or Stanford CS236's GMVAE homework (there the components'
# variances are learned too; here they are 1), p(z) = (1/K) Σₖ N(z; mₖ, I), log p(z) is the log of a
# sum and the KL has no closed form. Sampling still works: the KL is the mean of log q(z) − log p(z)
# over z ~ q, with
# log p(z) = logsumexpₖ log N(z; mₖ, I) − log K. (Pyro's `Trace_ELBO` samples every KL;
# `TraceMeanField_ELBO` uses the closed form where one exists.)
#
# **Exercise 5, homework (25 min).** Complete `kl_to_mixture(q, means, n)`: draw n samples z ~ q
# (`q.sample((n,))`, n × d), take log q(z) − log p(z) for each (q's log density summed over the d
# dimensions; log p(z) as above, with `logsumexp`), and return their mean and its standard error.
#
# *Why `logsumexp`.* For this q, log N(z; mₖ, I) is typically about −130. In float32 (a network's usual
# type) exp of anything below about −104 is 0, so log Σₖ exp(aₖ) would be −∞. `logsumexp` takes out
# the largest term first: log Σₖ exp(aₖ) = a_max + log Σₖ exp(aₖ − a_max).
#
# *The check.* The check cell (it starts with `q_base`) prepares two cases; your function's cell runs both.
# 1. K = 2, both components at 0: p is N(0, I), so the closed form must come out, with standard error
#    `sd_of` (the core part) over √n.
# 2. K = 2, means ±½ in every dimension, the 50-dimensional q above, in float32. Its exact KL is a 1-d
#    integral (hidden cell).
#
# The components' closed forms, averaged, are not the answer, only an upper bound: log is concave, so
# log p(z) = log (1/K) Σₖ pₖ(z) ≥ (1/K) Σₖ log pₖ(z) (Jensen), and so
# KL(q ‖ p) = E_q[log q − log p] ≤ (1/K) Σₖ KL(q ‖ pₖ). (CS236's homework puts such a sampled KL into
# training, with 500 learned components: try it on notebook 05's VAE.)

# %% jupyter={"source_hidden": true}
def mixture_kl_exact(mu, logvar, m, log_cosh=lambda u: torch.logaddexp(u, -u) - math.log(2)):
    """KL(q || p) for p = (N(m, I) + N(-m, I)) / 2, without sampling. As log p(z) = log N(z; 0, I)
    - |m|^2/2 + log cosh(u) with u = m.z ~ N(m.mu, sum m^2 sigma^2), E_q[log p] is a 1-d integral."""
    t = torch.linspace(-12, 12, 24_001, dtype=torch.float64)  # u = mean + sd t, t ~ N(0, 1)
    u = m @ mu + (m**2 @ logvar.exp()).sqrt() * t
    weight = Normal(0.0, 1.0).log_prob(t).exp() * (t[1] - t[0])  # the integral as a sum on the grid
    closed = vae_lite.kl_standard_normal(mu, logvar).item()
    return closed + (m @ m).item() / 2 - (weight * log_cosh(u)).sum().item()


noise_check = torch.randn(1000, d, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
z_check = mu_d + (0.5 * logvar_d).exp() * noise_check  # 1,000 draws from the 50-d q
typical = Normal(0.5, 1.0).log_prob(z_check).sum(-1).median().item()  # log N(z; m_1, I), z ~ q
print(f"log N(z; m_1, I) for 1,000 draws z ~ q: median {typical:.0f}. In float32, exp(-103) = "
      f"{torch.tensor(-103.0).exp():.1e} and exp(-104) = {torch.tensor(-104.0).exp():.0f}")
assert -140 < typical < -120 and torch.tensor(-104.0).exp() == 0 < torch.tensor(-103.0).exp(), \
    "the text: log N(z; m_k, I) about -130; float32's exp is 0 below about -104"

def check_kl_to_mixture(alone, alone_se, mixed, mixed_se, bound):
    """Exercise 5's checks (K = 2, means m and -m); a failure names the mistake whose value it matches."""
    ratio = alone_se / se_by_formula
    assert abs(ratio - 1) < 0.05, "the standard error should be the terms' std over sqrt(n)" + (
        ": it is their std itself" if abs(ratio / math.sqrt(n_mc) - 1) < 0.05 else "")
    wrong = {closed_alone - math.log(2): ": log p(z) lacks the - log K",
             closed_alone - 2 * math.log(2): ": log p(z) has + log K where - log K belongs"}
    seen = "".join(name for value, name in wrong.items() if abs(alone - value) < 5 * alone_se)
    assert abs(alone - closed_alone) < 5 * alone_se, "p is N(0, I): the KL is the closed form" + seen
    reference = mixture_kl_exact(mu_d, logvar_d, means[0])
    assert reference < bound - 1, "the text: the averaged closed forms are an upper bound"
    unit = torch.zeros(d, dtype=torch.float64)
    one_component = [vae_lite.kl_normal(mu_d, logvar_d, m_k, unit).item() for m_k in means]
    wrong = {bound: ": log p(z) is the mean of the log N(z; m_k, I), not their logsumexp - log K (Jensen)",
             # max_k log N(z; m_k, I) = log N(z; 0, I) - |m|^2/2 + |u|: log cosh replaced by |u|
             mixture_kl_exact(mu_d, logvar_d, means[0], torch.abs): ": log p(z) takes the max over the "
             "components (and no - log K), not their logsumexp - log K",
             **{kl_k + c: ": log p(z) uses one component, not the logsumexp over all K"
                for kl_k in one_component for c in (0.0, math.log(2))}}
    seen = "".join({name for value, name in wrong.items() if abs(mixed - value) < 5 * mixed_se})
    if not math.isfinite(mixed):  # log of a sum of exps that all underflowed to 0 in float32
        seen = ": log p(z) is -inf for some z (exp underflows in float32): use logsumexp"
    assert abs(mixed - reference) < 5 * mixed_se, \
        f"K = 2, means ±0.5: the KL is {reference:.2f} (a 1-d integral), not {mixed:.2f}" + seen


# %%
q_base = Normal(mu_d, (0.5 * logvar_d).exp())  # the 50-d q, one density per dimension
closed_alone, n_mc = vae_lite.kl_standard_normal(mu_d, logvar_d).item(), 100_000
se_by_formula = sd_of(mu_d, logvar_d) / math.sqrt(n_mc)  # one sample's spread, over sqrt(n)
both_at_0 = torch.zeros(2, d, dtype=torch.float64)  # case 1: p = N(0, I), as two halves
means = torch.stack([torch.full((d,), 0.5), torch.full((d,), -0.5)]).double()  # case 2
q_32 = Normal(mu_d.float(), (0.5 * logvar_d).exp().float())  # case 2 runs in float32
unit = torch.zeros(d, dtype=torch.float64)  # log of the components' variance 1
# vae_lite.kl_normal: Exercise 4's KL of two diagonal Gaussians, the package's code for it
bound = sum(vae_lite.kl_normal(mu_d, logvar_d, m_k, unit).item() for m_k in means) / len(means)
print(f"Case 1: closed form {closed_alone:.2f}; standard error for n = {n_mc:,}, "
      f"by the formula, {se_by_formula:.3f}")
exact_mixed = mixture_kl_exact(mu_d, logvar_d, means[0])  # the 1-d integral of the hidden cell
print(f"Case 2: exact KL {exact_mixed:.2f}; "
      f"the components' closed forms, averaged, {bound:.2f}")
assert exact_mixed < bound - 1, "the text: the averaged closed forms are an upper bound"


def try_kl_to_mixture(kl_to_mixture):
    """Run both cases on `kl_to_mixture`; a failure names the mistake it matches."""
    torch.manual_seed(4)
    try:
        alone, alone_se = kl_to_mixture(q_base, both_at_0, n_mc)
    except NotImplementedError:
        print("kl_to_mixture: not attempted yet. Write it, then re-run its cell.")
        return
    mixed, mixed_se = kl_to_mixture(q_32, means.float(), n_mc)
    print(f"Case 1: sampled {alone:.2f} ± {alone_se:.3f}. "
          f"Case 2: sampled {mixed:.2f} ± {mixed_se:.2f}")
    check_kl_to_mixture(alone, alone_se, mixed, mixed_se, bound)
    print("Both cases pass.")


# %%
def kl_to_mixture(q, means, n=100_000):
    """Monte Carlo KL(q || p) for p = (1/K) sum_k N(means[k], I): (estimate, its standard error)."""
    raise NotImplementedError  # your code here


try_kl_to_mixture(kl_to_mixture)  # the two cases of the check cell above

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution
def kl_to_mixture(q, means, n=100_000):
    z = q.sample((n,))  # (n, d)
    log_components = Normal(means, 1.0).log_prob(z[:, None]).sum(-1)  # (n, K): log N(z; m_k, I)
    log_p = log_components.logsumexp(dim=1) - math.log(len(means))  # (n,)
    terms = q.log_prob(z).sum(-1) - log_p
    return terms.mean().item(), terms.std().item() / math.sqrt(n)


try_kl_to_mixture(kl_to_mixture)  # the two cases of the check cell above

# %% [markdown]
# ### References
# - Kingma & Welling (2013), Auto-Encoding Variational Bayes, arXiv:1312.6114 (§2.3 and
#   Appendix B).
# - Sohn, Lee & Yan (2015), Learning Structured Output Representation using Deep Conditional
#   Generative Models, NeurIPS 2015.
# - Rezende & Mohamed (2015), Variational Inference with Normalizing Flows, arXiv:1505.05770.
# - Roeder, Wu & Duvenaud (2017), Sticking the Landing: Simple, Lower-Variance Gradient Estimators for
#   Variational Inference, NeurIPS 2017.
# - Tomczak & Welling (2018), VAE with a VampPrior, arXiv:1705.07120.
# - TensorFlow, Convolutional Variational Autoencoder tutorial,
#   https://www.tensorflow.org/tutorials/generative/cvae (the sampled KL, "for simplicity").
# - Pyro, `Trace_ELBO` and `TraceMeanField_ELBO`, https://docs.pyro.ai/en/stable/inference_algos.html.
# - Stanford CS236 (Deep Generative Models), homework 2: the GMVAE, a VAE with a mixture prior.
