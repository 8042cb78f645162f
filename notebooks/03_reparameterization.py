# %% [markdown]
# # 03 The reparameterization trick: gradients through random samples
#
# Previous: [02 The ELBO](02_elbo.ipynb) · Next: [04 The closed-form KL](04_closed_form_kl.ipynb)
#
# **Learning goals**
# - See that gradients do not flow through `Normal(μ, σ).sample()` and do flow through `rsample()`,
#   which computes z = μ + σ·ε with ε ~ N(0, 1).
# - Compare two ways to estimate ∇ E_q[f(z)]: the pathwise (reparameterization) estimator and the
#   score-function (REINFORCE) estimator, on a function whose expected gradient sympy computes exactly.
# - See that both are unbiased, and that their variances differ and shrink as 1/n with n samples;
#   see how much of the score function's extra variance a baseline removes.
#
# The VAE's ELBO contains E_{q(z|x)}[log p(x|z)], an average over z drawn from the encoder's
# q(z|x) = N(μ(x), σ(x)²). To train the encoder we need the gradient of that average with respect
# to μ and σ.

# %% [markdown] tags=["badges"]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-lite/vae_lite/blob/main/notebooks/03_reparameterization.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/vae-lite/vae_lite/main?labpath=notebooks%2F03_reparameterization.ipynb)

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
import inspect
import math

import sympy as sp
import torch
from IPython.display import display

import vae_lite
from vae_lite import check, gradients, plots, symbolic, widgets

QUICK = vae_lite.setup_notebook()

# %% [markdown]
# ## Derivation
#
# ### `sample()` blocks gradients, `rsample()` does not
# `sample()` draws z and returns it as a plain number: the graph from μ and σ to z is cut.
# `rsample()` draws ε ~ N(0, 1) and returns μ + σ·ε, a differentiable function of μ and σ:
# ∂z/∂μ = 1 and ∂z/∂σ = ε = (z − μ)/σ.
#
# > **Predict, then run.** Both calls return a number drawn from N(0.5, 1). Will `backward()` work
# > through the first? Through the second?

# %%
# NBVAL_CHECK_OUTPUT
mu = torch.tensor(0.5, requires_grad=True)
sigma = torch.tensor(1.0, requires_grad=True)
q = torch.distributions.Normal(mu, sigma)

z_blocked = q.sample()
print("sample():  requires_grad =", z_blocked.requires_grad)
try:
    z_blocked.backward()
except RuntimeError as e:
    print("           backward() fails:", str(e).split(" and ")[0])

z = q.rsample()
print("rsample(): requires_grad =", z.requires_grad)
z.backward()
print("           dz/dmu =", mu.grad.item())
epsilon = ((z - mu) / sigma).item()
print("           dz/dsigma equals epsilon = (z - mu)/sigma:", math.isclose(sigma.grad.item(), epsilon, rel_tol=1e-6))
assert not z_blocked.requires_grad and mu.grad.item() == 1.0 and math.isclose(sigma.grad.item(), epsilon, rel_tol=1e-6)

# %% [markdown]
# `vae_lite.reparameterize` is the same trick with the encoder's parameterisation: it receives
# log σ² (`logvar`), because an unconstrained number is easier for a network to output than a
# positive one. Then σ = exp(½ log σ²), so ∂z/∂μ = 1 and ∂z/∂ log σ² = ½ σ ε = ½ (z − μ).

# %%
print(inspect.getsource(vae_lite.reparameterize))
mu_v = torch.tensor([0.5, -1.0], requires_grad=True)
logvar_v = torch.tensor([0.0, math.log(4.0)], requires_grad=True)  # sigma = 1 and 2
z_v = vae_lite.reparameterize(mu_v, logvar_v)
assert z_v.requires_grad, "vae_lite.reparameterize returned a z that no gradient reaches: sample() instead of rsample()?"
z_v.sum().backward()
print("dz/dmu =", mu_v.grad.tolist(), "  dz/dlogvar =", [round(g, 4) for g in logvar_v.grad.tolist()],
      "  (z - mu)/2 =", [round(d, 4) for d in ((z_v - mu_v) / 2).tolist()])
assert torch.allclose(mu_v.grad, torch.ones(2)), "vae_lite.reparameterize: dz/dmu should be 1"
assert torch.allclose(logvar_v.grad, ((z_v - mu_v) / 2).detach()), \
    "vae_lite.reparameterize: dz/dlogvar should be (z - mu)/2, as for sigma = exp(logvar / 2)"

# %% [markdown]
# ### Two gradient estimators
# We want g = ∂/∂μ E_{z~N(μ,σ²)}[f(z)] (and ∂/∂σ), for a function f we can evaluate but not integrate.
#
# - **Pathwise** (reparameterization): write z = μ + σε, so E[f(z)] = E_ε[f(μ + σε)] and the
#   derivative moves inside: g = E_ε[f′(μ + σε)]. Needs f differentiable; autograd computes f′.
# - **Score function** (REINFORCE): differentiate the density instead of f:
#   g = ∫ f(z) ∂q(z)/∂μ dz = E_q[f(z) ∂ log q(z)/∂μ] = E_q[f(z)(z − μ)/σ²]. Needs only values of f.
#
# With f(z) = sin z, sympy integrates E[f(z)] exactly, differentiates it, and integrates what each
# single-sample estimator averages to. Both come out equal to the exact gradient: both are unbiased.

# %%
# NBVAL_CHECK_OUTPUT
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
# ## Experiments
#
# ### Both estimators, by sampling
# `vae_lite.gradients` has both estimators, one estimate per draw of ε (autograd gives the pathwise
# one its f′, as in a VAE):

# %%
print(inspect.getsource(gradients.pathwise_gradients))
print(inspect.getsource(gradients.score_function_gradients))

# %% [markdown]
# At μ = 0.5, σ = 1 we draw n samples, average each estimator over them, and repeat many times: the
# mean of the repeats shows the bias (none), their variance shows how noisy one estimate is.
#
# > **Predict, then run.** Both estimators are unbiased. Which one is noisier, and how does the noise
# > change when n grows four-fold?

# %%
# NBVAL_CHECK_OUTPUT
mu0, sigma0 = 0.5, 1.0
exact = float(d_mu.subs({symbolic.mu: mu0, symbolic.sigma: sigma0}))
print(f"exact d/dmu E[sin z] at mu = {mu0}, sigma = {sigma0}: {exact:.6f}")

# %%
repeats = 300 if QUICK else 2000
sample_counts = [1, 4, 16, 64, 256]


def estimates(n, generator):
    """(pathwise, score) estimates of d/dmu E[sin z], `repeats` of each, from n samples apiece."""
    eps = torch.randn(repeats, n, generator=generator, dtype=torch.float64)
    pathwise, _ = gradients.pathwise_gradients(torch.sin, mu0, sigma0, eps)  # d/dmu for each draw
    score, _ = gradients.score_function_gradients(torch.sin, mu0, sigma0, eps)
    return pathwise.mean(dim=1), score.mean(dim=1)


generator = torch.Generator().manual_seed(0)
variances = {"pathwise": [], "score function": []}
print(f"{'n':>5} {'pathwise mean':>14} {'score mean':>11} {'pathwise var':>13} {'score var':>10}")
for n in sample_counts:
    pathwise, score = estimates(n, generator)
    variances["pathwise"].append(pathwise.var().item())
    variances["score function"].append(score.var().item())
    print(f"{n:>5} {pathwise.mean():14.4f} {score.mean():11.4f} {pathwise.var():13.5f} {score.var():10.5f}")
    for name, est in (("pathwise", pathwise), ("score function", score)):
        assert abs(est.mean().item() - exact) < 5 * est.std().item() / math.sqrt(repeats), \
            f"the {name} estimates should average to the exact gradient (within 5 standard errors)"

# %% [markdown]
# *Figure: variance of each estimator (y-axis, log scale) against the number of samples n (x-axis, log
# scale): two parallel straight lines falling with slope −1, the score function's above the pathwise one.*

# %%
plots.plot_estimator_variance(sample_counts, variances);
slopes = {name: (math.log(v[-1]) - math.log(v[0])) / (math.log(sample_counts[-1]) - math.log(sample_counts[0]))
          for name, v in variances.items()}
ratio = sum(variances["score function"]) / sum(variances["pathwise"])
print("log-log slope of variance against n:", {k: round(v, 2) for k, v in slopes.items()}, "(1/n gives -1)")
print(f"score-function variance / pathwise variance: {ratio:.1f}")
assert all(-1.3 < s < -0.7 for s in slopes.values()), "the variance of an average of n samples should fall as 1/n"
assert ratio > 1, "here the pathwise estimator should be the less noisy one"

# %% [markdown]
# Both lines fall as 1/n; the score-function line sits a little higher (the ratio printed above). In a
# VAE, z has tens of dimensions (50 in notebook 05's) and f (the decoder's log-likelihood of a whole
# image) depends on all of them. The score-function
# estimate for μ₁ multiplies *all* of f by (z₁ − μ₁)/σ², so the other dimensions add noise; the
# pathwise estimate only sees ∂f/∂z₁. The cell below takes f(z) = Σᵢ sin zᵢ in d dimensions and
# estimates ∂/∂μ₁ E[f] with 16 samples.
#
# **A baseline** is the standard remedy for the score function's noise. The score has mean 0,
# E_q[∂ log q(z)/∂μ] = 0, so subtracting from f any number b that does not depend on the sample leaves
# the estimator unbiased: E[(f(z) − b) ∂ log q/∂μ] = E[f(z) ∂ log q/∂μ]. A b close to f(z) removes the
# part of f every sample shares, here the sum over the other dimensions. The last column takes b = the
# mean of f over the *other* 15 samples (`gradients.leave_one_out_mean`), which does not depend on the
# sample itself.
#
# > **Predict, then run.** From d = 1 to d = 50, what happens to each estimator's variance?

# %%
print(f"{'d':>3} {'pathwise var':>13} {'score var':>10} {'score var, baseline':>20}")
by_dimension = {}
for d in (1, 5, 50):
    eps = torch.randn(repeats, 16, d, generator=generator, dtype=torch.float64)
    f = lambda z: torch.sin(z).sum(dim=-1, keepdim=True)  # one value per sample of z, kept as (..., 1)
    others = gradients.leave_one_out_mean(f(mu0 + sigma0 * eps), dim=1)  # mean f of the other 15 samples
    pathwise = gradients.pathwise_gradients(f, mu0, sigma0, eps)[0][..., 0].mean(dim=1)  # d/dmu_1
    score = gradients.score_function_gradients(f, mu0, sigma0, eps)[0][..., 0].mean(dim=1)
    with_baseline = gradients.score_function_gradients(f, mu0, sigma0, eps, baseline=others)[0][..., 0].mean(dim=1)
    by_dimension[d] = (pathwise.var().item(), score.var().item(), with_baseline.var().item())
    print(f"{d:>3} {by_dimension[d][0]:13.5f} {by_dimension[d][1]:10.5f} {by_dimension[d][2]:20.5f}")
    assert abs(with_baseline.mean().item() - exact) < 5 * with_baseline.std().item() / math.sqrt(repeats), \
        "with a baseline the score function should still average to the exact gradient"
assert by_dimension[50][1] > 5 * by_dimension[1][1], "the score-function variance should grow with the dimension"
assert by_dimension[50][0] < 2 * by_dimension[1][0], "the pathwise variance should not grow with the dimension"
assert by_dimension[50][2] < by_dimension[50][1] / 4, "at d = 50 a baseline should remove most of the score's variance"

# %%
print(f"d = 50: the baseline removes {1 - by_dimension[50][2] / by_dimension[50][1]:.0%} of the score function's variance; "
      f"what is left is {by_dimension[50][2] / by_dimension[50][0]:.0f} times the pathwise variance")
assert by_dimension[50][0] < by_dimension[50][2], "the pathwise estimator should stay the less noisy one"
assert by_dimension[1][2] > by_dimension[1][1], "at d = 1 this baseline should not reduce the variance"

# %% [markdown]
# At d = 50, where most of f is shared by every sample, the baseline removes most of the score
# function's noise; at d = 1 it does not help (here it even adds a little: what sin z shares across
# samples is small, and the baseline brings noise of its own). Either way the pathwise estimator stays by
# far the less noisy one. That is why VAEs use the pathwise estimator, and why models that cannot
# (discrete z, below) use the score function with a baseline.
#
# ### Explore
# Move μ and σ: the samples z = μ + σε move with them, and so does the gradient estimate.
#
# *Figure (widget; a still without a live kernel): left, a histogram of 200 samples z = μ + σε under
# the N(μ, σ²) density; right, bars of the pathwise and score-function estimates of the gradient of
# E[z²] in μ and σ, with ±2 standard-error bars and the exact values marked.*

# %%
display(widgets.ReparameterizationExplorer())

# %% [markdown]
# ## Common mistakes
#
# > **Common mistake.** The write-up's `σ = E[(x-μ)²]`: that is the *variance* σ², not the standard deviation.
# > In code it shows up as `z = mu + torch.exp(logvar) * eps` (multiplies ε by σ²); the right form is
# > `z = mu + torch.exp(0.5 * logvar) * eps`. The cell below draws with the package's
# > `vae_lite.reparameterize` and with the wrong form, and measures the spread.

# %%
mu_t, logvar_t = torch.zeros(100_000), torch.full((100_000,), math.log(4.0))  # sigma = 2, sigma^2 = 4
generator = torch.Generator().manual_seed(0)
right = vae_lite.reparameterize(mu_t, logvar_t, generator=generator)
wrong = mu_t + torch.exp(logvar_t) * torch.randn(100_000, generator=generator)
print(f"sigma = 2: spread of vae_lite.reparameterize {right.std():.3f}, of the wrong form {wrong.std():.3f}")
# 100,000 samples: the spread's standard error is 2 / sqrt(2 * 100,000) = 0.0045
assert abs(right.std() - 2) < 0.03, \
    f"vae_lite.reparameterize draws with spread {right.std():.2f} for sigma = 2: sigma is exp(logvar / 2), not exp(logvar) or logvar"
assert abs(wrong.std() - 4) < 0.06

# %% [markdown]
# ## Exercises
#
# **Exercise 1 (5 min).** Write `reparameterize(mu, logvar)`: a sample of N(μ, exp(logvar)) that gradients
# flow through. The checker tests the mean and spread of many samples and the gradients.

# %%
def reparameterize(mu, logvar):
    raise NotImplementedError  # your code here


check.reparameterize(reparameterize);

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution
def reparameterize(mu, logvar):
    eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps


assert check.reparameterize(reparameterize)

# %% [markdown]
# **Exercise 2 (10 min).** Write `score_function_gradient(f, mu, sigma, n)`: the score-function estimate of
# ∂/∂μ E[f(z)], z ~ N(μ, σ²), from n samples. The checker also tries a step function f(z) = [z > 0],
# whose derivative is 0 almost everywhere: the pathwise estimator returns 0 there, the score
# function gets it right. Then: when can a VAE *not* use the reparameterization trick? (Answer
# below the solution.)

# %%
def score_function_gradient(f, mu, sigma, n):
    raise NotImplementedError  # your code here


check.score_function_gradient(score_function_gradient);

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution
def score_function_gradient(f, mu, sigma, n):
    z = mu + sigma * torch.randn(n, dtype=torch.float64)
    return (f(z) * (z - mu) / sigma**2).mean()


assert check.score_function_gradient(score_function_gradient)

# %% [markdown]
# **When a VAE cannot use the trick.** The pathwise estimator needs z to be a differentiable function
# of the parameters, and f to have a useful derivative. Both fail for **discrete latent variables**
# (a code that is one of K categories, or a vector of bits, as in discrete VAEs): a Bernoulli or
# categorical sample cannot be written as parameters + noise with a derivative, and torch offers no
# `rsample()` for it. Such models use the score function (with variance reduction) or a continuous
# relaxation such as the Gumbel-softmax. The cell shows both facts: torch's discrete distributions
# have no `rsample`, and for a step function the pathwise estimate is exactly 0 while the gradient is not.

# %%
# NBVAL_CHECK_OUTPUT
for distribution in (torch.distributions.Bernoulli(probs=torch.tensor(0.3)),
                     torch.distributions.Categorical(probs=torch.tensor([0.2, 0.5, 0.3])),
                     torch.distributions.Normal(0.0, 1.0)):
    print(f"{type(distribution).__name__:>11}: has rsample() = {distribution.has_rsample}")
step = lambda z: (torch.sign(z) + 1) / 2  # 1 for z > 0, else 0; autograd knows sign's derivative is 0
eps = torch.randn(100_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
pathwise_step = gradients.pathwise_gradients(step, 0.3, 1.5, eps)[0].mean().item()
score_step = gradients.score_function_gradients(step, 0.3, 1.5, eps)[0].mean().item()
exact_step = math.exp(-0.5 * (0.3 / 1.5) ** 2) / (1.5 * math.sqrt(2 * math.pi))  # d/dmu P(z > 0) = density of z at 0
print(f"f = step: pathwise {pathwise_step:.3f}, score function {score_step:.2f}, exact {exact_step:.2f}")
assert pathwise_step == 0 and abs(score_step - exact_step) < 0.03

# %% [markdown]
# ## Summary
# - `sample()` cuts the graph; `rsample()` = μ + σε keeps z a differentiable function of μ and σ.
# - Pathwise and score-function estimators are both unbiased (sympy shows it exactly for sin z).
# - Their variance falls as 1/n; the pathwise one is a little less noisy here in one dimension, and by
#   far when f depends on many, as a VAE's decoder does. A baseline (subtract from f a number that does
#   not depend on the sample) keeps the score function unbiased and removes most of its extra noise.
# - The encoder outputs log σ², so σ = exp(½ log σ²), not exp(log σ²).
# - The trick needs a continuous z that is a differentiable function of its parameters: discrete
#   latents need the score function or a relaxation.
#   Next: [04 The closed-form KL](04_closed_form_kl.ipynb), the other term of the ELBO, without sampling.
