# %% [markdown]
# # 04 The closed-form KL: by hand, by sympy, and checked against torch and by sampling
#
# Previous: [03 The reparameterization trick](03_reparameterization.ipynb) · Next: [05 The VAE](05_vae.ipynb)
#
# **Learning goals**
# - Derive KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − log σ² − 1) by hand in three lines, then let sympy
#   integrate it and *obtain* the same.
# - Extend it to d dimensions (a sum) and, in Exercise 2, to two Gaussians.
# - Check it against `vae_lite.kl_standard_normal`, `torch.distributions.kl_divergence` and Monte Carlo.
# - See why the closed form matters: a KL sampled once, as the reconstruction term is, adds gradient
#   noise; and where no closed form exists.
#
# The VAE's loss is reconstruction error + KL(q(z|x) ‖ p(z)) (notebook 02). The reconstruction term
# needs samples (notebook 03); the KL term, for Gaussians, does not: it has a closed form (Kingma &
# Welling, 2013, Appendix B, where it is written as −KL).

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

import vae_lite
from vae_lite import check, plots, symbolic, widgets

QUICK = vae_lite.setup_notebook()

# %% [markdown]
# ## Derivation
#
# KL(q ‖ p) = ∫ q(z) log(q(z)/p(z)) dz with q = N(μ, σ²) and p = N(0, 1). The log-ratio of two
# Gaussian densities is a quadratic in z:

# %% tags=["nbval-check-output"]
log_ratio = symbolic.log_normal(symbolic.z, symbolic.mu, symbolic.sigma) - symbolic.log_normal(symbolic.z, 0, 1)
display(Math(r"\log \frac{q(z)}{p(z)} = " + sp.latex(sp.expand(log_ratio))))

# %% [markdown]
# ### By hand, in three lines
# With log q(z) = −log √(2π) − log σ − (z − μ)²/(2σ²) and log p(z) = −log √(2π) − z²/2:
#
# 1. log q(z) − log p(z) = −log σ − (z − μ)²/(2σ²) + z²/2 (the log √(2π) cancel).
# 2. Two facts about z ~ N(μ, σ²): E_q[(z − μ)²] = σ² (the definition of the variance) and
#    E_q[z²] = Var z + (E z)² = σ² + μ².
# 3. Take E_q term by term: KL = −log σ − σ²/(2σ²) + (σ² + μ²)/2 = ½(μ² + σ² − log σ² − 1).
#
# ### By sympy
# Sympy integrates the log-ratio against q over the real line (`vae_lite.symbolic.kl_gaussians`), term
# by term, without the two facts of line 2; nothing is typed in:

# %% tags=["nbval-check-output"]
kl = symbolic.kl_standard_normal()
display(Math(r"\mathrm{KL}(\mathcal{N}(\mu, \sigma^2) \,\|\, \mathcal{N}(0, 1)) = " + sp.latex(kl)))
kl_var, var = symbolic.in_terms_of_variance(kl)
display(Math(r"\text{in terms of } \sigma^2: \quad " + sp.latex(kl_var)))

# %% [markdown]
# That is ½(μ² + σ² − log σ² − 1), the hand result.
#
# > **Predict, then run.** Can this KL ever be negative? For which (μ, σ) is it 0? The cell writes it
# > as μ²/2 + g(σ²)/2 with g(t) = t − 1 − log t, and has sympy study g.

# %% tags=["nbval-check-output"]
proof = symbolic.kl_is_never_negative(kl)
print("KL - (mu^2/2 + g(sigma^2)/2) simplifies to", sp.simplify(proof["residual"]), "  with g(t) =", proof["g"])
print("g''(t) =", proof["second_derivative"], "  positive for every t > 0:", proof["convex"])
print("g'(t) = 0 at t =", proof["stationary"], "  where g =", proof["minimum"])
assert symbolic.is_zero(proof["residual"]) and proof["convex"] and proof["stationary"] == [1] and proof["minimum"] == [0]

# %% [markdown]
# The first term, μ²/2, is ≥ 0. For the second, g is convex (g″(t) = 1/t² > 0 for t > 0) and its only
# stationary point is t = 1, where g = 0: so g(t) ≥ 0 for every t > 0, with equality only at t = 1.
# The KL is 0 only at μ = 0, σ = 1 (q equal to the prior) and positive everywhere else. (In d
# dimensions it is a sum of such terms, each ≥ 0.)
#
# The same argument as a picture: log t never rises above its tangent t − 1 at t = 1, so the gap
# t − 1 − log t is never negative.
#
# *Figure: the line t − 1 and the curve log t, touching at t = 1 (a black dot); the shaded gap between
# them is g(t) ≥ 0.*

# %%
plots.plot_log_below_tangent();

# %% [markdown]
# ### d dimensions: a sum
# With a diagonal covariance, q(z) = ∏ᵢ N(zᵢ; μᵢ, σᵢ²) and p(z) = ∏ᵢ N(zᵢ; 0, 1), so the log-ratio is a
# sum over dimensions and so is the KL. Sympy integrates over the plane (two dimensions, one axis
# after the other) and compares with the sum of two one-dimensional KLs:

# %% tags=["nbval-check-output"]
kl_2d, means, stds = symbolic.kl_diagonal(2)
display(Math(r"\mathrm{KL}_{2\text{-d}} = " + sp.latex(kl_2d)))
per_dimension = sum(kl.subs({symbolic.mu: m, symbolic.sigma: sd}) for m, sd in zip(means, stds))
residual_2d = sp.simplify(sp.expand_log(kl_2d - per_dimension, force=True))
print("KL_2d - (KL of dimension 1 + KL of dimension 2) simplifies to", residual_2d)
assert residual_2d == 0, "the 2-d KL should be the sum of the two 1-d KLs"

# %% [markdown]
# ### Two arbitrary Gaussians
# The same integral with p = N(μ_p, σ_p²), for a prior whose μ_p and σ_p a network outputs, as in Sohn
# et al.'s (2015) conditional VAE. Exercise 2 derives it by hand, so the cell does not show it, only two
# facts: μ_p = 0, σ_p = 1 gives back the formula above, and swapping q and p changes the number (KL is
# not symmetric).

# %% tags=["nbval-check-output"]
mu_q, sigma_q = symbolic.mu_q, symbolic.sigma_q
mu_p, sigma_p = sp.Symbol("mu_p", real=True), sp.Symbol("sigma_p", positive=True)
kl_general = symbolic.kl_gaussians(mu_q, sigma_q, mu_p, sigma_p)  # shown after Exercise 2
back = kl_general.subs({mu_p: 0, sigma_p: 1}) - kl.subs({symbolic.mu: mu_q, symbolic.sigma: sigma_q})
print("with mu_p = 0, sigma_p = 1 it differs from the standard-normal KL by", sp.simplify(back))
assert symbolic.is_zero(back), "the general formula should give back the standard-normal one"
example = {mu_q: 1, sigma_q: sp.Rational(1, 2), mu_p: 0, sigma_p: 1}
q_to_p = float(kl_general.subs(example))
p_to_q = float(symbolic.kl_gaussians(mu_p, sigma_p, mu_q, sigma_q).subs(example))
print(f"KL(q || p) = {q_to_p:.4f}, KL(p || q) = {p_to_q:.4f} for q = N(1, 0.5^2), p = N(0, 1)")
assert abs(q_to_p - p_to_q) > 0.1, "the text says swapping q and p changes the KL"

# %% [markdown]
# ## Experiments
#
# ### The formula in code, against torch
# For a few (μ, σ): sympy's formula, `vae_lite.kl_standard_normal` (the code the VAE trains with: the
# same formula typed in, taking log σ²), and `torch.distributions.kl_divergence`, PyTorch's own
# implementation, written apart from both: the independent check.

# %% tags=["nbval-check-output"]
cases = [(0.0, 1.0), (1.0, 1.0), (0.0, 2.0), (0.0, 0.5), (-1.5, 0.3), (2.0, 3.0)]
kl_fn = sp.lambdify((symbolic.mu, symbolic.sigma), kl, "math")
rows = []
print(f"{'mu':>5} {'sigma':>6} {'sympy':>9} {'vae_lite':>9} {'torch':>9}")
for m, sd in cases:
    mu_t, sd_t = torch.tensor([[m]], dtype=torch.float64), torch.tensor([[sd]], dtype=torch.float64)
    ours = vae_lite.kl_standard_normal(mu_t, 2 * sd_t.log()).item()
    theirs = torch.distributions.kl_divergence(torch.distributions.Normal(mu_t, sd_t),
                                               torch.distributions.Normal(0.0, 1.0)).item()
    rows.append((kl_fn(m, sd), ours, theirs))
    print(f"{m:5.1f} {sd:6.1f} {rows[-1][0]:9.5f} {ours:9.5f} {theirs:9.5f}")
assert rows and all(abs(theirs - exact) < 1e-10 for exact, _, theirs in rows), "torch and sympy disagree"
# if vae_lite disagrees, name the common mistake that gives its numbers in every case
wrong = {what: sp.lambdify((symbolic.mu, symbolic.sigma), form, "math") for what, form in symbolic.kl_wrong_forms(kl).items()}
seen = [what for what, f in wrong.items() if all(abs(f(m, sd) - ours) < 1e-9 for (m, sd), (_, ours, _) in zip(cases, rows))]
assert all(abs(ours - exact) < 1e-10 for exact, ours, _ in rows), \
    f"vae_lite.kl_standard_normal disagrees with sympy's integral" + (f": it has {seen[0]}" if seen else "")

# %% [markdown]
# ### By sampling: Monte Carlo with its standard error
# KL = E_q[log q(z) − log p(z)], so the average of log q(z) − log p(z) over n samples z ~ q estimates
# it, with standard error (standard deviation of the terms)/√n. The exact value should lie within a
# few standard errors. (At μ = 0, σ = 1, q is p: every term is 0, and so are the estimate and its
# standard error.)

# %%
n = 5_000 if QUICK else 100_000
generator = torch.Generator().manual_seed(0)
print(f"{'mu':>5} {'sigma':>6} {'exact':>9} {'Monte Carlo':>12} {'std error':>10}")
for m, sd in cases:
    q = torch.distributions.Normal(torch.tensor(m, dtype=torch.float64), sd)
    z = m + sd * torch.randn(n, generator=generator, dtype=torch.float64)
    terms = q.log_prob(z) - torch.distributions.Normal(0.0, 1.0).log_prob(z)
    estimate, std_error = terms.mean().item(), terms.std().item() / math.sqrt(n)
    print(f"{m:5.1f} {sd:6.1f} {kl_fn(m, sd):9.5f} {estimate:12.5f} {std_error:10.5f}")
    assert abs(estimate - kl_fn(m, sd)) <= 5 * std_error + 1e-12, \
        f"the Monte Carlo estimate for mu={m}, sigma={sd} is more than 5 standard errors from the formula"

# %% [markdown]
# ### 50 dimensions, as in the VAE
# A diagonal Gaussian with as many dimensions as the latent space of notebook 05's VAE (random μ and
# log σ²): `vae_lite.kl_standard_normal` sums
# the per-dimension KLs; torch's `Independent` distribution does the same in its own code.

# %% tags=["nbval-check-output"]
g = torch.Generator().manual_seed(0)
d = 50  # the latent dimensions of the package's default VAE (notebook 05)
mu_d, logvar_d = torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
ours = vae_lite.kl_standard_normal(mu_d, logvar_d).item()
q_d = torch.distributions.Independent(torch.distributions.Normal(mu_d, (0.5 * logvar_d).exp()), 1)
p_d = torch.distributions.Independent(torch.distributions.Normal(torch.zeros(d, dtype=torch.float64), 1.0), 1)
theirs = torch.distributions.kl_divergence(q_d, p_d).item()
by_sympy = sum(kl_fn(m, math.exp(lv / 2)) for m, lv in zip(mu_d.tolist(), logvar_d.tolist()))
print(f"{d}-d KL: vae_lite {ours:.6f}, torch {theirs:.6f}, sum of sympy's 1-d formula {by_sympy:.6f}")
assert abs(theirs - by_sympy) < 1e-9, "torch and sympy disagree"
assert abs(ours - by_sympy) < 1e-9, f"vae_lite.kl_standard_normal gives {ours:.4f} in {d} dimensions, the sum of the " \
    f"{d} one-dimensional KLs is {by_sympy:.4f}" + (": it averages over the dimensions instead of summing" if abs(ours - by_sympy / d) < 1e-9 else "")

# %% [markdown]
# ### Why a closed form: one sample of the KL is noisy
# The KL could be estimated by sampling, as the reconstruction term is: one z ~ q per image and
# log q(z) − log p(z), an unbiased estimate. How noisy is it for the 50-dimensional q above?
#
# *Figure: a histogram of 10,000 such one-sample estimates, with the closed form as a black line.*

# %%
torch.manual_seed(2)
z = q_d.sample((10_000,))  # 10,000 draws of z ~ q, each a one-sample estimate of the KL below
one_sample = q_d.log_prob(z) - p_d.log_prob(z)
print(f"closed form: {ours:.2f} nats, exactly; one-sample estimates: mean {one_sample.mean():.2f}, "
      f"standard deviation {one_sample.std():.2f} nats")
assert abs(one_sample.mean() - ours) < 5 * one_sample.std() / math.sqrt(len(one_sample)), "the one-sample estimate should be unbiased"
figure = plots.plot_histograms({"one-sample estimates": one_sample}, "estimate of the KL (nats)")
figure.axes[0].axvline(ours, color="black", linewidth=2, label=f"closed form, {ours:.2f}")
figure.axes[0].legend();

# %% [markdown]
# Training feels the noise of the *gradient*, though, not of the value. The cell draws z = μ + σε
# (`rsample`) 2,000 times; each row of the tensors `mu_r` and `logvar_r` is one draw's own copy of
# (μ, log σ²), so autograd gives each draw its own gradient of log q(z) − log p(z). The standard estimator
# differentiates all of it; Roeder et al.'s (2017) path-derivative estimator detaches μ and σ inside
# log q, so that only the path through z counts. Both average to the closed form's gradient.

# %%
def one_sample_gradients(mu, logvar, draws=2_000):
    """Row i: draw i's gradient of log q(z) - log p(z) in (mu, logvar), standard and path-derivative."""
    mu_r = mu.expand(draws, d).clone().requires_grad_(True)  # one copy of the parameters per draw
    logvar_r = logvar.expand(draws, d).clone().requires_grad_(True)
    z_r = torch.distributions.Normal(mu_r, (0.5 * logvar_r).exp()).rsample()

    def gradient(m, lv):  # log q(z_r) with these parameters; row i's gradient lands in row i
        q_r = torch.distributions.Independent(torch.distributions.Normal(m, (0.5 * lv).exp()), 1)
        return torch.autograd.grad((q_r.log_prob(z_r) - p_d.log_prob(z_r)).sum(), (mu_r, logvar_r), retain_graph=True)

    return {"standard": gradient(mu_r, logvar_r), "path-derivative": gradient(mu_r.detach(), logvar_r.detach())}


at_prior = torch.zeros(d, dtype=torch.float64)  # mu = 0, log sigma^2 = 0: q = p
noise, size = {}, {}
print("closed form: the norm of its gradient; the estimators: RMS over 2,000 draws of the norm of a draw's error")
print(f"{'':7}{'gradient in':<12}{'closed form':>12}{'standard':>10}{'path-derivative':>17}")
for q_name, (m, lv) in {"this q": (mu_d, logvar_d), "q = p": (at_prior, at_prior)}.items():
    m_c, lv_c = m.clone().requires_grad_(True), lv.clone().requires_grad_(True)
    exact = torch.autograd.grad(vae_lite.kl_standard_normal(m_c, lv_c), (m_c, lv_c))  # the closed form's gradient
    sampled = one_sample_gradients(m, lv)
    for i, name in enumerate(["mu", "logvar"]):
        size[q_name, name] = exact[i].norm().item()
        for estimator, gradients in sampled.items():
            error = gradients[i] - exact[i]  # one row per draw
            noise[q_name, name, estimator] = error.pow(2).sum(dim=1).mean().sqrt().item()
            off = (error.mean(0).abs() / (gradients[i].std(0) / math.sqrt(len(error)) + 1e-12)).max().item()
            assert off < 5, f"the {estimator} one-sample gradient in {name} should average to the closed form's gradient"
        print(f"{q_name:7}{name:<12}{size[q_name, name]:12.1f}{noise[q_name, name, 'standard']:10.1f}"
              f"{noise[q_name, name, 'path-derivative']:17.1f}")

# %% jupyter={"source_hidden": true}
for name in ("mu", "logvar"):  # the text's claims, per parameter
    standard, path, exact = (noise["this q", name, "standard"], noise["this q", name, "path-derivative"], size["this q", name])
    assert standard > exact + 1 and 0.8 * exact < path < standard, f"this q, {name}: the text compares the errors with the gradient"
    assert noise["q = p", name, "path-derivative"] < 1e-12 and noise["q = p", name, "standard"] > 1, f"q = p, {name}: only path-derivative is exact"
assert abs(noise["q = p", "mu", "standard"] / math.sqrt(d) - 1) < 0.1, "the text: at q = p a draw's standard gradient in mu is z, of norm about sqrt(d)"

# %% [markdown]
# With the standard estimator, one draw's gradient for this q is off by more than the whole gradient. At
# q = p every draw's *value* is 0 (above), yet its standard gradient in μ is z itself, of norm about √50 ≈ 7.1:
# a push even on dimensions already at the prior (07's unused ones). The path-derivative estimator drops
# the score term ∇ log q, whose mean is 0: it is exact at q = p, yet for this q its error is still about
# as large as the gradient, or larger. The closed form has no noise. Kingma & Welling (2013, §2.3) call
# the ELBO estimator that uses it estimator B, which "typically has less variance" than the fully
# sampled estimator A. A batch of M images divides the noise's variance by about M; the closed form
# removes it.
#
# The closed form needs a Gaussian q and a Gaussian p. A mixture prior (Tomczak & Welling's VampPrior,
# 2018) or a flow posterior (Rezende & Mohamed, 2015) has none: there the KL is sampled, and the
# estimator matters. Pyro has both: `Trace_ELBO` samples the KL, `TraceMeanField_ELBO` uses the closed
# form where one exists.
#
# ### Explore
# Move μ and σ: the two densities, the closed-form KL and a Monte Carlo estimate next to it.
#
# *Figure (widget; a still without a live kernel): the prior N(0, 1) as a grey curve and q = N(μ, σ²)
# as a shaded blue curve; the closed-form KL in the title, the Monte Carlo estimate (± one standard
# error) beside it in the still, under the plot when live.*

# %%
display(widgets.KLExplorer())

# %% [markdown]
# ## Common mistakes
#
# > **Common mistake.** The write-up's line `σ = E[(x-μ)²]` ([01](01_autoencoder.ipynb) says what the write-up
# > is): that is the variance σ². Put σ where σ² belongs and the
# > KL is wrong, e.g. ½(μ² + σ − log σ − 1). The encoder outputs `logvar` = log σ², so
# > σ² = `logvar.exp()` and log σ² = `logvar`. The cell compares both forms with Monte Carlo.

# %%
m, sd = 0.0, 2.0
right = kl_fn(m, sd)
wrong = 0.5 * (m**2 + sd - math.log(sd) - 1)  # sigma in place of sigma^2
z = m + sd * torch.randn(200_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
mc = (torch.distributions.Normal(m, sd).log_prob(z) - torch.distributions.Normal(0.0, 1.0).log_prob(z)).mean().item()
print(f"sigma = 2: right {right:.4f}, wrong {wrong:.4f}, Monte Carlo {mc:.4f}")
assert abs(mc - right) < 0.02 and abs(mc - wrong) > 0.2

# %% [markdown]
# > **Common mistake.** The write-up's loss `||x - x̂||² - KL[N(μ,σ²) || N(0,I)]` has the KL's sign wrong:
# > [06](06_loss_right_and_wrong.ipynb#1.-The-sign-of-the-KL) trains it and shows it fail.
#
# > **Common mistake.** The write-up's line `p(z|x) ~ N(0,I)`, which calls N(0, I) the posterior. In the VAE's loss the KL is taken against
# > the **prior** p(z) = N(0, I); that is what makes this closed form possible. The KL to the
# > *posterior* p(z|x), the gap of notebook 02, is not something the VAE can compute: p(z|x) is unknown.
#
# > **Common mistake.** Averaging instead of summing. The KL of a diagonal Gaussian is a **sum** over
# > the latent dimensions; averaging it divides it by d and silently changes its weight in the loss: a
# > KL weight β = 1/d. Averaging the *reconstruction* over D pixels does the opposite: the
# > reconstruction shrinks by D, so the KL weighs D times more (β = D).
# > [06 The loss, right and wrong](06_loss_right_and_wrong.ipynb) trains both.

# %% tags=["nbval-check-output"]
print(f"{d}-d example: sum {vae_lite.kl_standard_normal(mu_d, logvar_d).item():.3f}, "
      f"mean over dimensions {vae_lite.kl_standard_normal(mu_d, logvar_d).item() / d:.3f} (a weight of 1/{d})")

# %% [markdown]
# ## Exercises
#
# **Exercise 1 (5 min).** Write `kl_closed_form(mu, logvar)`: KL(N(μ, exp(logvar)) ‖ N(0, I)) for each row
# (example), summed over the last dimension. The checker names the common mistakes if it sees one.

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
# **Exercise 2 (15 min).** Derive KL(N(μ_q, σ_q²) ‖ N(μ_p, σ_p²)) by hand with the three lines above
# (hint: E_q[(z − μ_p)²] = σ_q² + (μ_q − μ_p)²) and enter it as `by_hand`, a sympy expression in `mu_q`,
# `sigma_q`, `mu_p`, `sigma_p` (`sp.log` for log). Then write `kl_two_gaussians(mu_q, logvar_q, mu_p,
# logvar_p)`: the KL of two diagonal Gaussians for each row, summed over the last dimension. The checker
# tries both on five cases, checks `by_hand` symbolically too, and names the mistakes it recognises.

# %%
by_hand = None  # your result, a sympy expression in mu_q, sigma_q, mu_p, sigma_p


def kl_two_gaussians(mu_q, logvar_q, mu_p, logvar_p):
    raise NotImplementedError  # your code here


check.kl_two_gaussians(kl_two_gaussians, by_hand);

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution: log q - log p = log(sigma_p / sigma_q) - (z - mu_q)^2 / (2 sigma_q^2) + (z - mu_p)^2 / (2 sigma_p^2);
# its mean under q is log(sigma_p / sigma_q) - 1/2 + (sigma_q^2 + (mu_q - mu_p)^2) / (2 sigma_p^2).
by_hand = sp.log(sigma_p / sigma_q) + (sigma_q**2 + (mu_q - mu_p) ** 2) / (2 * sigma_p**2) - sp.Rational(1, 2)


def kl_two_gaussians(mu_q, logvar_q, mu_p, logvar_p):
    return 0.5 * (logvar_p - logvar_q - 1 + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp()).sum(dim=-1)


assert symbolic.is_zero(by_hand - kl_general), "the hand result should equal sympy's integral"
assert check.kl_two_gaussians(kl_two_gaussians, by_hand)

# %% [markdown]
# ## Summary
# - KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − log σ² − 1): by hand from E_q[z²] = μ² + σ² and
#   E_q[(z − μ)²] = σ², and by sympy's integral; it is 0 only when q is the prior.
# - For a diagonal Gaussian the KL is the sum over dimensions; two Gaussians have a closed form too.
# - It agrees with `vae_lite.kl_standard_normal`, torch and Monte Carlo. Unlike a one-sample estimate,
#   it adds no gradient noise; a mixture prior or a flow posterior has no closed form.
# - Next: [05 The VAE](05_vae.ipynb) puts both terms together and trains the model.

# %% [markdown]
# ## Optional: Exercise 2's formula, shown and checked
# Sympy's `kl_general` written as the hand derivation gives it, and `vae_lite.kl_normal`, the package's
# code for it, against sympy and torch:

# %% tags=["nbval-check-output"]
readable = sp.Add(sp.log(sigma_p / sigma_q), (sigma_q**2 + (mu_q - mu_p) ** 2) / (2 * sigma_p**2), -sp.Rational(1, 2), evaluate=False)
display(Math(r"\mathrm{KL}(\mathcal{N}(\mu_q, \sigma_q^2) \,\|\, \mathcal{N}(\mu_p, \sigma_p^2)) = " + symbolic.latex(readable)))
print("it equals sympy's integral:", symbolic.is_zero(kl_general - readable))
assert symbolic.is_zero(kl_general - readable), "the readable form should equal sympy's integral"
general_fn = sp.lambdify((mu_q, sigma_q, mu_p, sigma_p), kl_general, "math")
t = lambda v: torch.tensor([[v]], dtype=torch.float64)
for mq, sq, mp, sp_ in [(1.0, 0.5, 0.0, 1.0), (0.0, 1.0, 1.0, 0.5), (-2.0, 3.0, 1.0, 2.0)]:
    ours = vae_lite.kl_normal(t(mq), t(2 * math.log(sq)), t(mp), t(2 * math.log(sp_))).item()
    theirs = torch.distributions.kl_divergence(torch.distributions.Normal(t(mq), t(sq)), torch.distributions.Normal(t(mp), t(sp_))).item()
    print(f"KL(N({mq}, {sq}^2) || N({mp}, {sp_}^2)): sympy {general_fn(mq, sq, mp, sp_):.6f}, vae_lite {ours:.6f}, torch {theirs:.6f}")
    assert abs(ours - general_fn(mq, sq, mp, sp_)) < 1e-10 and abs(theirs - ours) < 1e-10

# %% [markdown]
# ## Optional: too narrow against too wide
#
# For q = N(0, σ²) and p = N(0, 1), how does the KL grow as σ → 0 and as σ → ∞? Sympy's `limit` says:
# both limits are infinite, but near 0 the KL grows like −log σ (the −log σ² term: a too-narrow q is
# punished only logarithmically), and for large σ like σ²/2 (the σ² term: a too-wide q, quadratically).

# %%
kl_0 = kl.subs(symbolic.mu, 0)
print("sigma -> 0:  ", sp.limit(kl_0, symbolic.sigma, 0, "+"), "  KL / (-log sigma) ->", sp.limit(kl_0 / -sp.log(symbolic.sigma), symbolic.sigma, 0, "+"))
print("sigma -> oo: ", sp.limit(kl_0, symbolic.sigma, sp.oo), "  KL / (sigma^2 / 2) ->", sp.limit(kl_0 / (symbolic.sigma**2 / 2), symbolic.sigma, sp.oo))
assert sp.limit(kl_0 / -sp.log(symbolic.sigma), symbolic.sigma, 0, "+") == 1 and sp.limit(kl_0 / (symbolic.sigma**2 / 2), symbolic.sigma, sp.oo) == 1
