# %% [markdown]
# # 02 The ELBO (evidence lower bound): why we need it, and log p(x) = ELBO + KL checked line by line
#
# Previous: [01 The autoencoder](01_autoencoder.ipynb) · Next: [03 The reparameterization trick](03_reparameterization.ipynb)
#
# A VAE is a *latent-variable model*: draw a code z from the prior p(z) = N(0, I), then an image
# from the decoder p(x|z). Maximum likelihood needs, for every training image,
#
#   log p(x) = log ∫ p(x|z) p(z) dz.
#
# Numbers are in nats ([01: nats, bits and the length of a code](01_autoencoder.ipynb#Nats,-bits-and-the-length-of-a-code)).
#
# **Learning goals**
# - Say why log p(x) has no closed form for a neural decoder, and see how badly prior samples estimate it.
# - Derive log p(x) = ELBO(q) + KL(q ‖ p(z|x)) for any q, and check it with sympy on a toy model.
# - See that the gap is the KL, 0 only when q is the true posterior.
# - Say why one encoder q(z|x) serves every image (amortization), and name its price.
# - Recognise the write-up's wrong lines, and see the same checker reject them.

# %% [markdown] tags=["badges"]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-lite/vae_lite/blob/main/notebooks/02_elbo.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/vae-lite/vae_lite/main?labpath=notebooks%2F02_elbo.ipynb)

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

import matplotlib.pyplot as plt
import sympy as sp
import torch

import vae_lite
from vae_lite import check, plots, pretrained, symbolic

QUICK = vae_lite.setup_notebook()  # prints "class mode" (full sample sizes) or "quick mode" (CI)

# %% [markdown]
# ## Why we need a bound
#
# ### Data: one test image and a trained decoder
# The package's VAE, trained on MNIST by maximising the ELBO this notebook derives (notebook 05). Its
# decoder p(x|z) maps a code z to pixel probabilities; its encoder maps x to a Gaussian over codes,
# q(z|x) = N(μ(x), diag σ²(x)).

# %%
data = vae_lite.load_dataset()
vae = pretrained.default_model(data).eval()  # notebook 05's VAE (MNIST: shipped; other data: trained once, cached)
x_image = vae_lite.binarized_test_set(data)[:1]  # the first test image, (1, C, H, W); each pixel drawn 0 or 1 once, fixed seed
print(f"the decoder p(x|z): {vae.latent_dim} numbers in, {x_image[0].numel()} pixel probabilities out")
plots.show_images(x_image, title="the test image x", size=4.5);

# %% [markdown]
# *Figure: the first test image, in black on white.*
#
# ### log p(x) by sampling
# p(x) = ∫ p(x|z) p(z) dz is an average of p(x|z) over the prior. No formula integrates a neural
# decoder over 50 dimensions, so we sample: draw z₁ … z_k from N(0, I) and take
# log p(x) ≈ log (1/k) Σᵢ p(x|zᵢ). Or draw them from *any* r(z) > 0 wherever p(x, z) > 0, and average
# the *weights* p(x, z)/r(z) (*importance sampling*). The encoder's q(z|x) sits where the *posterior*
# p(z|x) is, so r = q(z|x) should need far fewer samples. From the prior, the log weights are
# hundreds of nats below 0, where float32's exp gives 0: `torch.logsumexp` avoids that.
#
# > **Predict, then run.** How many prior samples does the estimate need before it settles?
# > 100? 1,000? 100,000? And samples of q(z|x)?

# %%
n_samples = 10_000 if QUICK else 100_000
with torch.inference_mode():
    mu_x, logvar_x = vae.encode(x_image)  # the encoder's q(z|x) = N(mu_x, exp(logvar_x)), (1, latent_dim)
prior = torch.distributions.Normal(torch.zeros_like(mu_x), 1.0)
q_x = torch.distributions.Normal(mu_x, (0.5 * logvar_x).exp())  # the encoder's q(z|x)


@torch.inference_mode()
def importance_log_weights(r, n):  # log p(x|z) + log p(z) - log r(z) for n draws z ~ r, 2,000 at a time (memory)
    return torch.cat([vae.log_likelihood(x_image, z)[:, 0] + (prior.log_prob(z) - r.log_prob(z)).sum(-1)[:, 0]
                      for z in (r.sample((2_000,)) for _ in range(n // 2_000))])

# %%
torch.manual_seed(0)
log_w = {"the prior": importance_log_weights(prior, 3 * n_samples),  # 3 times q's draws: 3 estimates at the largest k
         "q(z|x)": importance_log_weights(q_x, n_samples)}
log_w["q(z|x)"], held_out = log_w["q(z|x)"].chunk(2)  # half of q's set apart, for a reference
ks = [10**i for i in range(int(math.log10(n_samples)) + 1)]  # k = 1, 10, 100, ...
estimates = {}  # estimates[name][k]: len(w) // k estimates of log p(x), each the log of the mean of k weights
for name, w in log_w.items():
    estimates[name] = {k: vae_lite.objectives.iw_bound(w.view(-1, k).T) for k in ks if k <= len(w)}
print(plots.repeated_estimates_table({f"sampling {name}": by_k for name, by_k in estimates.items()}))

# %%
log_px_reference = vae_lite.objectives.iw_bound(held_out).item()  # the half set apart, pooled into one estimate
plots.plot_repeated_estimates({f"sampling {name}": by_k for name, by_k in estimates.items()}, reference=log_px_reference,
                              reference_label="reference: q(z|x)’s other half", zoom="sampling q(z|x)");

# %% [markdown]
# *Figure: estimates of log p(x) (nats) against k (log scale): the median and 10–90 % band of the repeated
# estimates, or a circle each where there are fewer than 10 (set side by side at their k, not to overlap).
# Dashed: a reference, the same estimate from the half of q(z|x)'s samples set apart. Bottom: q(z|x)
# zoomed in. q(z|x)'s median at k = 1 is already above every prior estimate at k = 100,000.*
#
# Why is the prior so slow? Almost every z from the prior decodes to some *other* image; the z that
# explain x fill a small region, where p(z|x) is large.

# %%
short = log_px_reference - estimates["the prior"][ks[-1]]  # one per estimate from the most samples
q_short = log_px_reference - estimates["q(z|x)"][1000].median().item()  # median, k = 1,000
halves = vae_lite.objectives.iw_bound(log_w["q(z|x)"]).item() - log_px_reference  # the other half, pooled
print(f"{len(short)} estimates from {ks[-1]:,} prior samples each: {short.min():.0f} to {short.max():.0f} nats below the dashed line")
print(f"q(z|x): the median of the 1,000-sample estimates {q_short:.1f} nats below it; the other half of its "
      f"samples, pooled like the line: {halves:+.1f} nats from it")

# %% jupyter={"source_hidden": true}
if data.name == "mnist":  # other data sets: no checks
    naive = log_w["the prior"].view(-1, 1000).exp().mean(1).log()  # k = 1,000 without logsumexp, in float32
    assert torch.isinf(naive).any() and torch.isfinite(estimates["the prior"][1000]).all(), \
        "the text says float32's exp gives 0 for the prior's log weights, and logsumexp avoids that"
    assert estimates["the prior"][ks[-1]].max() < estimates["q(z|x)"][1].median(), \
        "the caption says q(z|x)'s median at k = 1 is above every prior estimate at the largest k"
    near = max(abs(q_short), abs(halves))  # q(z|x)'s k = 1,000 median, and the other half, from the line
    assert near < 1.5 and short.min() > 10 * near, \
        "the text says q(z|x)'s median and the line's other half are within about a nat of it, and the prior far below"

# %% [markdown]
# So, the prediction: the prior needs far more than 100,000 samples (Optional: how many); at 100,000 it
# is still tens of nats short, with three times q(z|x)'s draws. From q(z|x), the median estimate from
# 1,000 samples lands 0.2 nats below the line. The line is an estimate too, good to about a nat: the
# other half of q(z|x)'s samples gives 0.8 nats more (Optional: how far to trust it). Both are small next
# to the prior's shortfall. Training could climb this estimate (notebook 10's IWAE does), but at k times the
# cost per step, and as k grows it tells q less and less: its target, log p(x), does not depend on q.

# %% [markdown]
# ### The way out: a bound
# Sample z from a **q(z|x) close to p(z|x)**, and maximise a bound that q makes computable: the **ELBO**
# (*evidence lower bound*), the mean of the log weights (q(z|x)'s k = 1 estimates). Its gap to log p(x) is
# the *KL divergence* KL(q ‖ p(z|x)) = E_q[log (q(z|x)/p(z|x))], ≥ 0 and 0 only at q = p(z|x) (derived
# below). log p(x) does not depend on q, so raising the ELBO over q shrinks the gap. Raised over the
# decoder with q at the posterior, it lifts log p(x) at least as much (EM's argument, Optional:
# [the decoder on the bound](#Training-the-decoder-on-the-bound)).
#
# Where does q(z|x) come from? A Gaussian fitted to each image by gradient steps on its ELBO goes stale at
# every training step (the decoder, and with it p(z|x), changes), and a new image needs a fit of its own.
# Instead one network, the encoder, gives every x its q(z|x) in one forward pass: inference is *amortized*,
# its cost shared by all images. Its price, a q worse than one fitted to each image alone, is the
# *amortization gap* (Cremer et al. 2018; measured in the Optional part).

# %%
elbo_se = log_w["q(z|x)"].std().item() / len(log_w["q(z|x)"]) ** 0.5  # standard error of the mean
print(f"the ELBO of the encoder's q(z|x): {log_w['q(z|x)'].mean():.1f} nats (s.e. {elbo_se:.2f}), "
      f"{log_px_reference - log_w['q(z|x)'].mean():.1f} nats below the dashed line")

# %% [markdown]
# ## Model: a toy where everything is known
# To check each line we need a model whose p(x) and p(z|x) *are* known: one latent and one observed
# number, z ~ N(0, 1) (the prior) and x | z ~ N(w z + b, s²) (a linear decoder).
# `vae_lite.symbolic.linear_gaussian` integrates the joint over z for p(x), and reads p(z|x) off
# log p(x, z), a quadratic in z, *without* p(x). So Bayes' rule below is a check, not a definition.

# %% tags=["nbval-check-output"]
model = symbolic.linear_gaussian()
for name in ("log_prior", "log_likelihood", "log_evidence", "posterior_mean", "posterior_std"):
    print(f"{name:>15} = {model[name]}")

# %% [markdown]
# The numbers at w = 2, b = 0.5, s = 0.8 (`vae_lite.check.TOY_MODEL`) and x = 1.7:

# %% tags=["nbval-check-output"]
point = {symbolic.x: 1.7, symbolic.w: 2.0, symbolic.b: 0.5, symbolic.s: 0.8}
log_px = float(model["log_evidence"].subs(point))
post_mean, post_std = float(model["posterior_mean"].subs(point)), float(model["posterior_std"].subs(point))
print(f"sympy: log p(x) = {log_px:.4f}, posterior N({post_mean:.4f}, {post_std:.4f}^2)")

# %% [markdown]
# ## Derivation
#
# Take any density q(z) (later: the encoder's q(z|x)). In the checks q = N(μ_q, σ_q²) with μ_q and σ_q
# symbols, so they hold for *every* Gaussian q: sympy simplifies left minus right side to 0.
#
# 1. Bayes' rule: p(z|x) = p(x, z) / p(x), so log p(x) = log p(x, z) − log p(z|x) for every z.
# 2. The left side does not depend on z, and q integrates to 1, so average over z ~ q:
#    log p(x) = E_q[log p(x, z) − log p(z|x)].
# 3. Add and subtract E_q[log q(z)]:
#    log p(x) = E_q[log p(x, z) − log q(z)] + E_q[log q(z) − log p(z|x)] = **ELBO(q) + KL(q ‖ p(z|x))**.
#    The KL is ≥ 0, so the ELBO is a lower bound. Why: the log is concave (its chords lie below it:
#    ½(log a + log b) ≤ log ½(a + b)), so an average of logs is at most the log of the average (*Jensen's
#    inequality*): −KL = E_q[log (p(z|x)/q(z))] ≤ log E_q[p(z|x)/q(z)] ≤ log ∫ p(z|x) dz = 0. The log is
#    strictly concave, so the KL is 0 only when q = p(z|x) (almost everywhere).
# 4. Split the ELBO: E_q[log p(x|z)] + E_q[log p(z) − log q(z)] = reconstruction − KL(q ‖ p(z)),
#    the form a VAE trains with.
#
# Kingma & Welling (2013, eq. 1–3) write it L(θ, φ; x), with decoder weights θ and encoder weights φ;
# Rezende et al. (2014) derive the same bound.

# %% [markdown]
# Line 1 is the real test: it sets the integrated evidence against the posterior derived without it.
# Lines 2–3 follow by algebra; line 4 regroups terms. The cell writes out lines 1 and 3.

# %% tags=["nbval-check-output"]
log_posterior = symbolic.log_normal(symbolic.z, model["posterior_mean"], model["posterior_std"])
line_1 = model["log_evidence"] - (model["log_prior"] + model["log_likelihood"] - log_posterior)
print("line 1, left minus right side, simplified:", sp.simplify(line_1))
log_q = symbolic.log_normal(symbolic.z, symbolic.mu_q, symbolic.sigma_q)
E_q = lambda f: symbolic.expectation(f, symbolic.z, symbolic.mu_q, symbolic.sigma_q)
elbo_q, kl_q = E_q(model["log_joint"] - log_q), E_q(log_q - log_posterior)  # ELBO(q), KL(q || p(z|x))
line_3 = model["log_evidence"] - (elbo_q + kl_q)
print("line 3, left minus right side, simplified:", sp.simplify(line_3))
assert symbolic.is_zero(line_1) and symbolic.is_zero(line_3), "a line of the derivation does not hold"

# %% [markdown]
# > **Predict, then run.** *The write-up* (notebook 01: the course's summary of Kingma & Welling 2013)
# > has wrong lines: W1, the loss `||x - x̂||² - KL[N(μ,σ²) || N(0,I)]`; W2, `p(z|x) ~ N(0,I)`;
# > W3, `σ = E[(x-μ)²]`; W4, `log(x) ≥ ...`. What is wrong in each, and what is the right line? Then run
# > them through sympy (answers: Common mistakes, below).

# %% tags=["nbval-check-output"]
test_point = {**point, symbolic.mu_q: 0.3, symbolic.sigma_q: 0.7, symbolic.z: 0.1}  # any q and z will do
residual_at = lambda step: round(float(step.residual.subs(test_point)), 3) + 0.0  # + 0.0: no "-0.0"
lines = symbolic.wrong_lines(model)
starts = {"W1": "loss =", "W2": "N(0, 1) as", "W3": "sigma for", "W4": "log x"}  # each one's text
wrong = {label: next(line for line in lines if line.says.startswith(start)) for label, start in starts.items()}
print("   holds for every q?  left minus right side at q = N(0.3, 0.7²), z = 0.1")
for label, line in wrong.items():  # W4: log x is another symbol than log p(x), nothing for sympy to test
    verdict = "n/a         —" if label == "W4" else f"{str(line.holds()):<5} {residual_at(line):+7.3f}"
    print(f"{label} {verdict} {line.says}")
assert len(lines) == 4 and not any(wrong[w].holds() or residual_at(wrong[w]) == 0 for w in ("W1", "W2", "W3")), \
    "the checker accepted a wrong line"

# %% [markdown]
# ## Experiments
#
# ### Numbers for one data point
# The ELBO and the gap KL(q ‖ p(z|x)), integrated by sympy at x = 1.7, for three q: their sum is log p(x),
# line 3 again.

# %% tags=["nbval-check-output"]
elbo, kl = symbolic.elbo_terms(model)  # expressions in mu_q and sigma_q (and x, w, b, s)
choices = {"prior N(0, 1)": (0.0, 1.0), "N(1, 0.3^2)": (1.0, 0.3), "true posterior": (post_mean, post_std)}
exact = {}
for name, (m, sd) in choices.items():
    exact[name] = tuple(float(f.subs(point).subs({symbolic.mu_q: m, symbolic.sigma_q: sd})) for f in (elbo, kl))
    print(f"q = {name:<15} ELBO = {exact[name][0]:8.4f}   KL(q || p(z|x)) = {exact[name][1]:.4f}   "
          f"sum = {sum(exact[name]):.4f}")
    assert abs(sum(exact[name]) - log_px) < 1e-9 and exact[name][1] >= 0, f"q = {name}: ELBO + KL should be log p(x), KL ≥ 0"
assert exact["prior N(0, 1)"][1] > 1e-9, "N(0, 1) is the prior, not the posterior: with q = prior the bound is loose"

# %% [markdown]
# Here a Gaussian q can match p(z|x) exactly (the third row). With a neural decoder p(z|x) need not be
# Gaussian, and a Gaussian q then leaves a gap ([Optional: a posterior no Gaussian fits](#A-posterior-no-Gaussian-fits)).

# %% [markdown]
# ## Common mistakes
#
# The answers to W1–W4 above. A fifth, W5, squared error `||x - x̂||²` as the reconstruction term, hides
# a weight β on the KL (Higgins et al. 2017's β; Optional: squared error; 06 trains it).
#
# > **Common mistake.** W1, the loss `||x - x̂||² - KL[N(μ,σ²) || N(0,I)]`: the KL's sign is wrong
# > ([06](06_loss_right_and_wrong.ipynb#1.-The-sign-of-the-KL) trains it and shows it fail).
#
# > **Common mistake.** W2, `p(z|x) ~ N(0,I)`: N(0, I) is the **prior** p(z). The posterior depends on x,
# > and for x drawn from the model it is narrower on average (law of total variance: E[Var(z|x)] ≤ Var(z)
# > = 1). With q = the prior the bound is loose (row "prior N(0, 1)" above).
#
# > **Common mistake.** W3, `σ = E[(x-μ)²]`: that is σ²; written for σ it makes a wrong KL
# > ([04](04_closed_form_kl.ipynb) derives the right one).
#
# > **Common mistake.** W4, `log(x) ≥ …`: the left side is **log p(x)**, the log *evidence*, not the log
# > of the data. log x is another symbol, so sympy has nothing to test (n/a above).

# %% [markdown]
# ## Exercises
#
# **Exercise 1 (10 min).** Write `elbo_monte_carlo(x, mu_q, sigma_q, n)` for the toy (w = 2, b = 0.5,
# s = 0.8): draw n samples z ~ q = N(μ_q, σ_q²), average log p(x, z) − log q(z), and return that number.
# `torch.distributions.Normal(mean, std).log_prob` gives the log-densities. The checker compares it with
# the exact ELBO for several q and names the mistakes it recognises.

# %%
def elbo_monte_carlo(x, mu_q, sigma_q, n):
    raise NotImplementedError  # your code here


check.elbo_monte_carlo(elbo_monte_carlo);

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution
def elbo_monte_carlo(x, mu_q, sigma_q, n):
    Normal = torch.distributions.Normal
    q = Normal(torch.tensor(mu_q, dtype=torch.float64), sigma_q)
    z = q.sample((n,))
    log_joint = Normal(0.0, 1.0).log_prob(z) + Normal(2.0 * z + 0.5, 0.8).log_prob(torch.tensor(x, dtype=torch.float64))
    return (log_joint - q.log_prob(z)).mean()


assert check.elbo_monte_carlo(elbo_monte_carlo)

# %% [markdown]
# ## Summary
# - log p(x) has no closed form for a neural decoder; prior samples rarely land where p(z|x) is (tens of
#   nats short on an MNIST image). Sampling q(z|x) ≈ p(z|x) is the way out.
# - For every q, log p(x) = ELBO(q) + KL(q ‖ p(z|x)) ≥ ELBO(q), equal exactly at the posterior.
# - The loss is the negative ELBO: reconstruction error **+** KL(q ‖ p(z)).
# - One encoder gives every x its q(z|x) in one pass (amortization), at a price: the amortization gap.
#
# Next: [03 The reparameterization trick](03_reparameterization.ipynb), how gradients get through the samples of z.

# %% [markdown]
# ## Optional
# Each section builds on cells above it: run the whole notebook, then show the ones you choose. A second
# class (45 min): those marked *class*. Reading for home (52 min): those marked *home*.
# - [One encoder for every image: amortization](#One-encoder-for-every-image:-amortization), 15 min, *class*: the amortization gap measured.
# - [A negative control for the derivation's checker](#A-negative-control-for-the-derivation's-checker), 5 min, *class*: can the checks fail?
# - [Training the decoder on the bound](#Training-the-decoder-on-the-bound), 7 min, *class*: EM's argument.
# - [The toy in the package](#The-toy-in-the-package), 2 min, *home*: `vae_lite.LinearGaussian` against sympy.
# - [Squared error hides a KL weight](#Squared-error-hides-a-KL-weight), 9 min, *class*: W5, a hidden β.
# - [Exercise 2 (homework): the importance-sampling estimate of log p(x)](#Exercise-2-(homework):-the-importance-sampling-estimate-of-log-p(x)), 16 min, *home*.
# - [Exercise 3 (homework): line 4 in sympy](#Exercise-3-(homework):-line-4-in-sympy), 12 min, *home*.
# - [How many samples the prior needs](#How-many-samples-the-prior-needs), 14 min, *home*: q(z|x)'s width, a plug-in estimate.
# - [How far to trust the first section's dashed line](#How-far-to-trust-the-first-section's-dashed-line), 8 min, *home*: a better reference.
# - [A posterior no Gaussian fits](#A-posterior-no-Gaussian-fits), 3 min, *class*: several modes.
# - [Why an ELBO-fitted q is a narrow proposal](#Why-an-ELBO-fitted-q-is-a-narrow-proposal), 6 min, *class*: what the best Gaussian leaves out.

# %% [markdown]
# ### One encoder for every image: amortization
# The ELBO is largest where q is closest to the posterior, so we can *fit* q = N(μ, σ²) to one image by
# gradient ascent on its ELBO, and compare it with the encoder's q(z|x) (notebook 10 goes further). Back
# to MNIST: the first section's image and the next 19, each with its own q fitted starting at N(0, I)
# (`best_gaussian`: Adam on μ and log σ², learning rate 0.2 decayed to 0 over 300 steps, each step on a
# 16-draw ELBO; gradients pass through z = μ + σε, notebook 03; the KL is notebook 04's closed form).
#
# > **Predict, then run.** How many gradient steps does fitting q to this one image take to match
# > what the encoder gives in one pass?

# %%
x_images = vae_lite.binarized_test_set(data)[:20]  # x_image first
zeros = torch.zeros(20, vae.latent_dim)  # each q starts at N(0, I): mu = 0 and log sigma^2 = 0
torch.manual_seed(1)  # the fits draw their ε from here, not from the 1000 draws that judge them below
mu_q, logvar_q, trace = vae_lite.objectives.best_gaussian(vae, x_images, 300, lr=0.2, init=(zeros, zeros), every=1)
running = trace[:, 0].unfold(0, 21, 1).mean(1)  # x_image's ELBO during the fit, averaged over steps s - 10 .. s + 10

# %% [markdown]
# The encoder's q and each fitted q are judged on the same 1000 draws of ε (z = μ + σε), apart from the
# fits' own draws: their difference is neither luck of the draw nor a fit to these draws.

# %%
noise = lambda: torch.Generator().manual_seed(2)  # the same 1000 draws of ε for every ELBO below
encoder_elbos = vae_lite.elbo(vae, x_images, samples=1000, generator=noise()).elbo.detach()  # (20,)


@torch.no_grad()
def elbo_draws(mu_q, logvar_q):  # as vae_lite.elbo computes it, on the same ε, but one estimate per draw: (1000, 20)
    z = vae_lite.reparameterize(mu_q.expand(1000, -1, -1), logvar_q.expand(1000, -1, -1), noise())
    return vae.log_likelihood(x_images, z) - vae_lite.kl_standard_normal(mu_q, logvar_q)


fitted = elbo_draws(mu_q, logvar_q)
gap = fitted.mean(0) - encoder_elbos  # each image: the fitted q's ELBO minus the encoder's
elbo_encoder = encoder_elbos[0].item()  # x_image's
matched = (running >= elbo_encoder).nonzero()
first_match = 10 + matched[0].item() if len(matched) else None  # the middle step of the first window that matches
print(f"x_image: the encoder's q, one forward pass: ELBO {elbo_encoder:.1f} nats; its fitted q: {fitted[:, 0].mean():.1f} "
      f"after {len(trace) - 1} steps.\nThe fit's ELBO, averaged over 21 steps, first matched the encoder's at step {first_match}.")
print(f"first 20 test images: the fitted q's ELBO is {gap.mean():.1f} nats above the encoder's on average "
      f"(s.e. {gap.std() / len(gap) ** 0.5:.1f} over the images), from {gap.min():.1f} to {gap.max():.1f}")

# %% jupyter={"source_hidden": true}
# checks. 1: vae_lite.elbo (sampled log p(x|z), closed-form KL) against the first section's mean of the full log
# weights log p(x|z) + log p(z) - log q(z|x) (torch.distributions alone): two estimates of one ELBO, other draws
encoder = elbo_draws(*vae.encode(x_images))  # the encoder's ELBO draw by draw; its mean is encoder_elbos
elbo_mc_se, elbo_full = encoder[:, 0].std().item() / 1000**0.5, log_w["q(z|x)"].mean().item()  # x_image's
tolerance = 5 * math.hypot(elbo_mc_se, elbo_se)  # 5 standard errors of the difference
print(f"x_image: vae_lite.elbo {elbo_encoder:.2f} nats (1000 draws); the first section's mean of the full log weights "
      f"{elbo_full:.2f} ({len(log_w['q(z|x)']):,} draws); allowed apart {tolerance:.2f} (5 s.e.)")
assert abs(elbo_encoder - elbo_full) < tolerance, \
    f"vae_lite.elbo gives {elbo_encoder:.1f}, the mean of the log weights {elbo_full:.1f}: is the KL added instead " \
    "of subtracted, or averaged over the latent dimensions instead of summed?"
# 2: is each image's gap beyond its Monte Carlo noise, and are the fits done?
gap_mc_se = (fitted - encoder).std(0) / 1000**0.5  # each image's, over its 1000 draws
more_steps = vae_lite.objectives.best_gaussian(vae, x_images, 100, lr=0.01, init=(mu_q, logvar_q))
further = (elbo_draws(*more_steps[:2]).mean(0) - fitted.mean(0)).mean().item()
print(f"each image's gap: Monte Carlo s.e. {gap_mc_se.min():.2f} to {gap_mc_se.max():.2f}, the gap at least "
      f"{(gap / gap_mc_se).min():.0f} of them; 100 more steps at learning rate 0.01 add {further:.2f} on average")
if data.name == "mnist":
    assert tolerance < 1, "the text says the two ELBO estimates must agree within under a nat"
    assert abs(further) < gap.std() / len(gap) ** 0.5, "the fits have not settled: more steps change the gap by more than its s.e."
    assert gap.mean() > 5 * gap.std() / len(gap) ** 0.5, "the text says the encoder's q is worse than a fitted one, beyond the gap's s.e."
    assert (gap / gap_mc_se).min() > 5, "the text says each image's gap is many times its Monte Carlo s.e."
    assert first_match is not None, "the text says the fitted q catches up with the encoder's"

# %% [markdown]
# For this image, with this optimiser and schedule, fitting q takes tens of steps to match what the
# encoder gives in one pass, and the fit goes stale whenever the decoder changes. Over the 20 images the
# encoder's q is 3.4 nats worse on average, many times the standard error over the images (0.4). The
# collapsed cell above checks the rest: each image's gap is many times its own Monte Carlo standard error,
# and 100 more steps change the mean gap by far less than its standard error (the fits have settled). The
# fitted q is only near the best Gaussian, so this gap is a lower bound on the amortization gap of this one
# model and binarization; on test images it also holds the encoder's error on unseen images.
#
# The same cell checks `vae_lite.elbo` (sampled log p(x|z) minus the closed-form KL) against the first
# section's mean of the full log weights: two estimates of one ELBO, on separate draws, that must agree
# within 5 standard errors, under a nat here. A KL added instead of subtracted, or averaged over the
# latent dimensions, fails it.

# %% [markdown]
# ### A negative control for the derivation's checker
# The package holds all four lines of the derivation (`symbolic.elbo_derivation`); the cell prints each
# one's verdict and its left minus right side at W1–W4's test point. Line 4 holds by construction (no
# verdict: —). Could lines 1–3 fail? Build the model again with a wrong evidence,
# log N(x; b, w²): the decoder's noise forgotten (x = wz + b + noise has variance w² + s², not w²).
# Every line that uses p(x) must now print False, and only those. Then, with the right model, line 3 with
# the gap reversed, KL(p(z|x) ‖ q), must print False: line 3's check catches a mistake of its own.

# %% tags=["nbval-check-output"]
steps = symbolic.elbo_derivation(model)
verdict = lambda step: "—" if step.by_construction else str(step.holds())  # line 4 cannot fail
print("the right model:")
for step in steps:
    print(f"{verdict(step):<5} {residual_at(step):+7.3f} {step.says}")
assert [step.holds() for step in steps if not step.by_construction] == [True] * 3, "a line does not hold"
wrong_model = symbolic.linear_gaussian(symbolic.evidence_without_noise())
print("log p(x) taken as", wrong_model["log_evidence"])
control = symbolic.elbo_derivation(wrong_model)
for step in control:
    print(f"{verdict(step):<5} {residual_at(step):+7.3f} {step.says}")
verdicts, zero_at_point = [step.holds() for step in control], [residual_at(step) == 0 for step in control]
assert verdicts == [step.by_construction for step in control] == zero_at_point, \
    "with a wrong evidence, every line that uses p(x) should fail (and be off at the test point), and only those"
mean_p, std_p = sp.symbols("m tau", positive=True)  # stand-ins for the posterior's mean and std
kl_reversed = symbolic.kl_gaussians(mean_p, std_p, symbolic.mu_q, symbolic.sigma_q).subs(
    {mean_p: model["posterior_mean"], std_p: model["posterior_std"]})  # KL(p(z|x) || q)
reversed_gap = symbolic.Step("3 with the gap reversed: log p(x) = ELBO + KL(p(z|x) || q)",
                             model["log_evidence"] - (elbo_q + kl_reversed))
print(f"{verdict(reversed_gap):<5} {residual_at(reversed_gap):+7.3f} "
      f"{reversed_gap.says} (right model)")
assert not reversed_gap.holds() and residual_at(reversed_gap) != 0, "line 3 should reject the reversed gap"

# %% [markdown]
# ### Training the decoder on the bound
# Everything so far moved q. Training moves the decoder too, here w. Hold q at the posterior for the current
# decoder, w₀ = 2, and move w: for every w, ELBO(w) = log p(x; w) − KL(q ‖ p(z|x; w)) lies below log p(x; w), and at
# w₀ the two touch (the KL is 0 there). So a step in w that raises this ELBO from w₀ raises log p(x) by at least as
# much: EM's argument (Dempster et al., 1977). With q held anywhere else the guarantee is gone: for instance,
# with q held at N(0.1, 0.1²) the cell finds the ELBO rising in w at w₀ while log p(x) falls. A VAE steps q
# and w together, and a step can also raise the ELBO by shrinking the gap instead; it can never lift the
# bound above log p(x).

# %%
others = {key: value for key, value in point.items() if key != symbolic.w}  # x, b, s as above
q_at_w0 = {symbolic.mu_q: post_mean, symbolic.sigma_q: post_std}  # the posterior at w0 = 2, then held fixed
elbo_of_w = sp.lambdify(symbolic.w, elbo.subs(others).subs(q_at_w0), "math")
log_px_of_w = sp.lambdify(symbolic.w, model["log_evidence"].subs(others), "math")
ws = [0.5 + 0.025 * i for i in range(101)]  # w from 0.5 to 3
w_best = max(ws, key=elbo_of_w)
plots.plot_decoder_on_bound(ws, [log_px_of_w(v) for v in ws], [elbo_of_w(v) for v in ws], w0=2.0, w_best=w_best)
plt.show()  # the figure before the numbers
print(f"log p(x) at w0 = 2: {log_px_of_w(2.0):.4f};  at the ELBO's best w = {w_best:.3f}: {log_px_of_w(w_best):.4f}")
# the next two follow from the identities sympy proved: a demonstration, not a test
assert all(elbo_of_w(v) <= log_px_of_w(v) + 1e-12 for v in ws), "the ELBO is a lower bound for every w"
assert abs(elbo_of_w(2.0) - log_px_of_w(2.0)) < 1e-9, "with q the posterior at w0 the bound touches at w0"
assert log_px_of_w(w_best) - log_px_of_w(2.0) >= elbo_of_w(w_best) - elbo_of_w(2.0) > 0, \
    "raising this ELBO in w raises log p(x) at least as much"
assert abs(max(ws, key=log_px_of_w) - math.sqrt((1.7 - 0.5) ** 2 - 0.8**2)) < 0.025, \
    "the text says log p(x; w) peaks where w² + s² = (x − b)²"
elbo_q_off = sp.lambdify(symbolic.w, elbo.subs(others).subs({symbolic.mu_q: 0.1, symbolic.sigma_q: 0.1}), "math")
slope = lambda f: (f(2.001) - f(1.999)) / 0.002  # d/dw at w0 = 2
print(f"q held at N(0.1, 0.1²) instead: at w0 = 2, d ELBO/dw = {slope(elbo_q_off):+.3f}, "
      f"d log p(x)/dw = {slope(log_px_of_w):+.3f}")
assert slope(elbo_q_off) > 0 > slope(log_px_of_w), \
    "the text says that with another q the ELBO can rise in w while log p(x) falls"

# %% [markdown]
# *Figure: log p(x; w) (solid) and the ELBO with q held at the posterior for w₀ = 2 (dashed) against the decoder
# weight w; the dashed curve stays below the solid one and touches it at w₀ (vertical line); at its best w (dot),
# log p(x) (black dot) is higher than at w₀.*
#
# log p(x; w) itself peaks left of w₀ = 2: it is one data point, not a data set, and its maximum-likelihood
# w solves w² + s² = (x − b)².

# %% [markdown]
# ### The toy in the package
# `vae_lite.LinearGaussian` is the toy in torch, with its exact posterior and evidence (notebook 08 uses
# it). Both must agree with sympy's.

# %% tags=["nbval-check-output"]
toy_exact = vae_lite.LinearGaussian(w=[2.0], b=[0.5], s=0.8)
x_toy = torch.tensor([[1.7]], dtype=torch.float64)
mean_torch, logvar_torch = (t.item() for t in toy_exact.posterior(x_toy))
log_px_torch = toy_exact.log_evidence(x_toy[0]).item()
print(f"sympy: log p(x) = {log_px:.4f}, posterior N({post_mean:.4f}, {post_std:.4f}^2)")
print(f"torch: log p(x) = {log_px_torch:.4f}, posterior N({mean_torch:.4f}, {math.exp(logvar_torch / 2):.4f}^2)")
assert abs(log_px_torch - log_px) < 1e-9, \
    f"LinearGaussian.log_evidence gives {log_px_torch:.3f}, sympy's integral of the joint {log_px:.3f}: it should be log p(x), not, say, log x"
assert abs(mean_torch - post_mean) < 1e-9 and abs(math.exp(logvar_torch / 2) - post_std) < 1e-9, \
    f"LinearGaussian.posterior gives N({mean_torch:.3f}, {math.exp(logvar_torch / 2):.3f}^2), the posterior is " \
    f"N({post_mean:.3f}, {post_std:.3f}^2): N(0, 1) is the prior p(z), not the posterior p(z|x)"

# %% [markdown]
# ### Squared error hides a KL weight
# > **Common mistake.** Squared error `‖x − x̂‖²` as "the" reconstruction term. For a Gaussian decoder
# > with standard deviation s on D pixels, −log p(x|z) = ‖x − x̂‖² / (2s²) + D·log(s√(2π)): squared error
# > is the negative log-likelihood only up to the scale 1/(2s²) and a constant. Add the KL to it unscaled
# > and the loss is 2s² · (reconstruction error + KL / (2s²)) − const: a KL weight β = 1/(2s²), hidden in
# > the choice of loss. It is the right negative ELBO, up to a constant, only when s² = ½. (In the toy
# > model below D = 1.)
#
# > **Predict, then run.** In the toy model (s = 0.8), does squared error with the KL's sign corrected (the
# > write-up's other mistake), E_q[(x − wz − b)²] + KL(q ‖ p(z)), have its minimum at the posterior?

# %% tags=["nbval-check-output"]
squared_error_loss, squared_error_best = symbolic.squared_error_loss(model)
reconstruction = symbolic.expectation(model["log_likelihood"], symbolic.z, symbolic.mu_q, symbolic.sigma_q)
kl_prior = symbolic.kl_gaussians(symbolic.mu_q, symbolic.sigma_q, 0, 1)
s = symbolic.s
identity = squared_error_loss - (2 * s**2 * (-reconstruction + kl_prior / (2 * s**2)) - 2 * s**2 * sp.log(s * sp.sqrt(2 * sp.pi)))
print("squared-error loss = 2s²·(reconstruction error + KL/(2s²)) − 2s²·log(s√(2π)):", symbolic.is_zero(identity))
print("its minimum:  mu_q =", squared_error_best[symbolic.mu_q], "  sigma_q =", squared_error_best[symbolic.sigma_q])
at_s_half = {k: model[name].subs(symbolic.s, 1 / sp.sqrt(2)) for k, name in ((symbolic.mu_q, "posterior_mean"), (symbolic.sigma_q, "posterior_std"))}
print("equals the posterior of the model with s² = ½:", all(symbolic.is_zero(squared_error_best[k] - at_s_half[k]) for k in at_s_half))
best_here = {k: float(value.subs(point)) for k, value in squared_error_best.items()}
print(f"at s = 0.8: minimum at N({best_here[symbolic.mu_q]:.3f}, {best_here[symbolic.sigma_q]:.3f}^2), "
      f"posterior N({post_mean:.3f}, {post_std:.3f}^2); implicit beta = 1/(2s²) = {1 / (2 * 0.8**2):.2f}")
assert symbolic.is_zero(identity) and abs(best_here[symbolic.mu_q] - post_mean) > 1e-9, "the minimum's mean should miss the posterior's"
assert abs(best_here[symbolic.sigma_q] - post_std) > 1e-9, "the minimum's standard deviation should miss the posterior's"

# %% [markdown]
# The package's Gaussian decoder (notebook 06) keeps the scale: `vae_lite.objectives.gaussian_log_likelihood`
# must be exactly −‖x − x̂‖² / (2s²) − D·log(s√(2π)) for D pixels. (The formula is symmetric in x and x̂,
# so this check cannot tell, and need not, which of the two is passed first.)

# %%
g = torch.Generator().manual_seed(0)
x_pixels, mean_pixels = torch.rand(3, 1, 4, 4, generator=g, dtype=torch.float64), torch.rand(3, 1, 4, 4, generator=g, dtype=torch.float64)
log_s = math.log(0.3)
ours = vae_lite.objectives.gaussian_log_likelihood(mean_pixels, x_pixels, log_s)
formula = -((x_pixels - mean_pixels) ** 2).sum(dim=(1, 2, 3)) / (2 * 0.3**2) - 16 * math.log(0.3 * math.sqrt(2 * math.pi))
print("gaussian_log_likelihood:", [round(v, 4) for v in ours.tolist()])
print("the formula:            ", [round(v, 4) for v in formula.tolist()])
assert torch.allclose(ours, formula), \
    "gaussian_log_likelihood is not -||x - mean||^2 / (2 s^2) - D log(s sqrt(2 pi)): bare squared error drops the scale 1/(2 s^2)"

# %% [markdown]
# ### Exercise 2 (homework): the importance-sampling estimate of log p(x)
# **Exercise 2, homework (10 min).** The first section estimated log p(x) as the log of the mean of k
# importance weights ωᵢ = p(x, zᵢ) / r(zᵢ) (omega, not the toy's decoder weight w). Write
# `log_evidence_is(log_w)`: given log ω₁ … log ω_k along the last dimension of a tensor (leading
# dimensions are repetitions), return log((1/k) Σᵢ ωᵢ), one number per row. Hint: an MNIST image's log weights are tens to hundreds of nats below 0, and exp(−1000)
# is 0 in floating point; `torch.logsumexp` computes log Σ exp without that underflow. Then write
# `mean_estimate(log_w, k)`: cut a long vector of log weights into rows of k, and return the mean of the
# rows' estimates and its standard error. The checkers test both; the cell after them runs them on the
# toy with r = the prior for k = 1, 10, 100, 1000, against the exact ELBO and log p(x).

# %%
def log_evidence_is(log_w):
    raise NotImplementedError  # your code here


check.log_evidence_is(log_evidence_is);

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution
def log_evidence_is(log_w):
    return torch.logsumexp(log_w, dim=-1) - math.log(log_w.shape[-1])


assert check.log_evidence_is(log_evidence_is)

# %%
def mean_estimate(log_w, k):
    raise NotImplementedError  # your code here: (mean, standard error) of the len(log_w) // k estimates


check.mean_estimate(mean_estimate);

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution
def mean_estimate(log_w, k):
    estimates_k = log_evidence_is(log_w.view(-1, k))  # len(log_w) // k independent estimates
    return estimates_k.mean().item(), estimates_k.std().item() / math.sqrt(len(estimates_k))


assert check.mean_estimate(mean_estimate)

# %%
torch.manual_seed(0)
z = torch.randn(100_000, dtype=torch.float64)  # z ~ r = the prior, so the log weight is log p(x|z)
log_w_toy = torch.distributions.Normal(2.0 * z + 0.5, 0.8).log_prob(x_toy[0, 0])  # x = 1.7, in float64
try:
    means = {k: mean_estimate(log_w_toy, k) for k in (1, 10, 100, 1000)}
except NotImplementedError:
    print("Write log_evidence_is and mean_estimate above, then re-run this cell.")
else:
    print(f"{'k':>5} {'mean of the estimates':>22} {'s.e.':>7}   exact ELBO(q = prior) {exact['prior N(0, 1)'][0]:.4f}, log p(x) {log_px:.4f}")
    for k, (mean, std_error) in means.items():
        print(f"{k:>5} {mean:22.4f} {std_error:7.4f}")
    assert abs(means[1][0] - exact["prior N(0, 1)"][0]) < 5 * means[1][1], "with k = 1 the estimate is one log weight: on average the ELBO"
    assert means[1][0] < means[10][0] < means[100][0], "the log of a mean is biased low, less so as k grows"
    assert abs(means[1000][0] - log_px) < 5 * means[1000][1] + 0.01, "with k = 1000 the estimates should average to log p(x)"

# %% [markdown]
# Debrief: the mean estimate rises with k, from the ELBO at k = 1 toward log p(x): the log of a mean weight
# is a lower bound on average (Jensen), tighter for larger k; notebook 10 trains with it (IWAE).

# %% [markdown]
# ### Exercise 3 (homework): line 4 in sympy
# **Exercise 3, homework (10 min).** The package marks line 4 of the derivation "by construction"; derive
# it yourself. Write `reconstruction_and_kl(E_q, log_likelihood, log_prior, log_q)`: return E_q[log p(x|z)]
# and KL(q ‖ p(z)) as two sympy expressions, each built with `E_q(f)` (it integrates f over
# z ~ q = N(μ_q, σ_q²)) from the toy's log-densities passed in. The checker proves each equal to the right
# one for every Gaussian q, names the mistakes it recognises (W1's sign among them), and checks line 4:
# reconstruction − KL(q ‖ p(z)) equals line 3's ELBO, E_q[log p(x, z) − log q(z)].

# %%
def reconstruction_and_kl(E_q, log_likelihood, log_prior, log_q):
    raise NotImplementedError  # your code here: return (E_q[log p(x|z)], KL(q || p(z)))


check.reconstruction_and_kl(reconstruction_and_kl);

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution
def reconstruction_and_kl(E_q, log_likelihood, log_prior, log_q):
    return E_q(log_likelihood), E_q(log_q - log_prior)


assert check.reconstruction_and_kl(reconstruction_and_kl)

# %% [markdown]
# ### How many samples the prior needs
# Why was the first section's prior so slow? The z that explain x fill a small region. The encoder's
# q(z|x) shows roughly how small (an ELBO-fitted q tends to be narrower than p(z|x): last section):
# below, its standard deviation in each latent dimension.

# %%
sd_x, order = (0.5 * logvar_x[0]).exp().sort()  # x_image's q(z|x): one standard deviation per dimension
kl_x = 0.5 * (mu_x[0] ** 2 + logvar_x[0].exp() - logvar_x[0] - 1)[order]  # each dimension's KL(q ‖ p(z))
ax = plt.subplots(figsize=(10, 3.5))[1]
ax.bar(range(len(sd_x)), sd_x, label="σ of q(z|x)")
ax.axhline(1.0, color="black", linestyle="--", label="the prior's σ, 1")
ax.set(xlabel="latent dimensions, sorted by σ", ylabel="standard deviation")
ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)  # above the axes, off the bars
ax.set_title("σ of q(z|x) per latent dimension, one test image", pad=40)  # above the legend
plt.show()
narrow, near_1 = sd_x < 0.5, sd_x > 0.95
print(f"σ under ½ in {narrow.sum()} of {len(sd_x)} dimensions, the smallest {sd_x.min():.2f}; between ½ and 0.95 in "
      f"{(~narrow & ~near_1).sum()};\nthe {near_1.sum()} with σ above 0.95 hold {kl_x[near_1].sum():.2f} of the "
      f"{kl_x.sum():.1f} nats of KL(q(z|x) ‖ p(z))")

# %% [markdown]
# *Figure: in many dimensions q(z|x) is under half the prior's width. About as many sit near 1 and carry almost
# none of the KL to the prior: dimensions unused for this image (notebook 07 counts active units over the test
# set). The rest lie in between (the three counts are printed). A prior sample must land in the narrow ranges of
# all the used dimensions at once.*
#
# How many draws does that take? Importance sampling from the prior needs about exp(KL(p(z|x) ‖ p(z)))
# draws to be accurate (Chatterjee & Diaconis 2018: about exp(KL(target ‖ proposal)) samples, when the
# log weight is concentrated under p(z|x)). That KL needs the posterior. The encoder's
# KL(q(z|x) ‖ p(z)) is at hand, but it is neither that exponent nor the exponent plus the gap, as one
# might guess. Lines 3 and 4 give, for every q, the exact identity
#
#   KL(q ‖ p(z)) − KL(q ‖ p(z|x)) = E_q[log p(x|z)] − log p(x),
#
# and at q = p(z|x), where the gap is 0, it gives the exponent:
# KL(p(z|x) ‖ p(z)) = E_{p(z|x)}[log p(x|z)] − log p(x).
# So KL(q ‖ p(z)) minus the gap differs from the exponent in *which* distribution averages log p(x|z).
# Sympy checks the identity on the toy for every Gaussian q; then four q at x = 1.7 (m and τ the
# posterior's mean and standard deviation) show that the KL to the prior, and that KL minus the gap, can
# each fall on either side of the exponent.

# %% tags=["nbval-check-output"]
kl_identity = kl_prior - kl - (reconstruction - model["log_evidence"])  # kl: the gap KL(q || p(z|x))
print("KL(q || p(z)) − KL(q || p(z|x)) = E_q[log p(x|z)] − log p(x) for every q:", symbolic.is_zero(kl_identity))
exponent = kl_prior.subs({symbolic.mu_q: model["posterior_mean"], symbolic.sigma_q: model["posterior_std"]})
print("KL(q || p(z)) − KL(q || p(z|x)) = KL(p(z|x) || p(z)) for every q (a tempting claim):",
      symbolic.is_zero(kl_prior - kl - exponent))
exponent_here = float(exponent.subs(point))
print(f"{'q':<15} {'KL(q || p(z))':>14} {'gap':>7} {'KL - gap':>9}   exponent KL(p(z|x) || p(z)) = {exponent_here:.3f}")
rows = []
for name, (m, sd) in {**choices, "N(m, (τ/2)^2)": (post_mean, post_std / 2)}.items():
    q = {symbolic.mu_q: m, symbolic.sigma_q: sd}
    rows.append((float(kl_prior.subs(q)), float(kl.subs(point).subs(q))))
    print(f"{name:<15} {rows[-1][0]:14.3f} {rows[-1][1]:7.3f} {rows[-1][0] - rows[-1][1]:9.3f}")
assert symbolic.is_zero(kl_identity), "KL(q || p(z)) − KL(q || p(z|x)) should be E_q[log p(x|z)] − log p(x)"
assert not symbolic.is_zero(kl_prior - kl - exponent), \
    "the tempting claim, KL to the prior = exponent + gap, should fail"
for values in ([to_prior for to_prior, _ in rows], [to_prior - gap_q for to_prior, gap_q in rows]):
    assert min(values) < exponent_here < max(values), "the text says these fall on either side of the exponent"

# %% [markdown]
# On MNIST, put q(z|x) for p(z|x) in the exponent: E_q[log p(x|z)] − log p(x), the encoder's reconstruction
# term (the first section's ELBO plus the KL it subtracts) minus the dashed line, is a *plug-in estimate*
# of the exponent. The toy shows it can miss either way, so it is an estimate, not a lower or an upper end.
# Here it asks for far more samples than the first section drew, even taken 5 times a rough spread lower:
# the ELBO's standard error plus the 0.8 nats between the two halves of q(z|x)'s samples. That spread is
# no standard error: the line is also likely low (next section), which pushes the estimate up, and so
# does a narrow ELBO-fitted q (last section), which raises E_q[log p(x|z)]. The direct evidence is the
# first section's: 300,000 prior samples still fell tens of nats short. The cell also checks the
# closed-form KL against sampling: the mean of log q(z|x) − log p(z) over draws from q(z|x).

# %%
kl_to_prior = vae_lite.kl_standard_normal(mu_x, logvar_x).item()  # KL(q(z|x) || p(z)), notebook 04
z = mu_x + (0.5 * logvar_x).exp() * torch.randn(10_000, *mu_x.shape, generator=torch.Generator().manual_seed(0))
kl_draws = (q_x.log_prob(z) - prior.log_prob(z)).sum(-1)[:, 0]  # summed over the latent dimensions
kl_se = kl_draws.std().item() / len(kl_draws) ** 0.5
reconstruction_x = elbo_full + kl_to_prior  # E_q[log p(x|z)]: the first section's ELBO plus the KL in it
plug_in, rough_spread = reconstruction_x - log_px_reference, elbo_se + abs(halves)  # the ELBO's s.e. + the halves
print(f"KL(q(z|x) || p(z)) = {kl_to_prior:.1f} nats (by sampling: {kl_draws.mean():.1f}, s.e. {kl_se:.2f}); "
      f"gap ≈ {log_px_reference - elbo_full:.1f};\nplug-in exponent E_q[log p(x|z)] − log p(x) ≈ {plug_in:.1f} "
      f"nats (rough spread {rough_spread:.1f}): about 10^{plug_in / math.log(10):.1f} prior samples, "
      f"against the {3 * ks[-1]:,} of the first section")
assert abs(kl_to_prior - kl_draws.mean().item()) < 5 * kl_se, \
    f"KL(q(z|x) || p(z)) is {kl_to_prior:.1f} nats, sampling gives {kl_draws.mean():.1f}: is it summed over the latent dimensions?"
if data.name == "mnist":
    assert plug_in - 5 * rough_spread > math.log(3 * ks[-1]), "the text says this estimate exceeds the first section's draws"

# %% [markdown]
# ### How far to trust the first section's dashed line
# The dashed line pooled half the samples of q(z|x) into one estimate; the other half, pooled alone, gives
# another. A better r, notebook 10's without its widening: draw half the samples from q(z|x) and half from
# q*, the Gaussian fitted to this image in the amortization section, each weighted against the mixture of
# the two (`vae_lite.objectives.mixture_log_weights`). Four quarters of the samples give four independent
# estimates. The effective sample size ESS = (Σᵢ ωᵢ)²/Σᵢ ωᵢ², with ωᵢ the importance weights
# (`vae_lite.objectives.effective_sample_size`), counts how many of the samples an estimate effectively
# rests on.

# %%
q_star = (mu_q[:1].detach(), logvar_q[:1].detach())  # the amortization section's q, fitted to x_image
with torch.inference_mode():  # in 40 pieces (kernel memory)
    log_w_ref = torch.cat([vae_lite.objectives.mixture_log_weights(vae, x_image, [q_star, (mu_x, logvar_x)], n_samples // 40)[:, 0] for _ in range(40)])
log_px_mixture = (torch.logsumexp(log_w_ref, 0) - math.log(n_samples)).item()  # log of the mean weight
quarters = torch.logsumexp(log_w_ref.view(4, -1), 1) - math.log(n_samples // 4)  # the same from each quarter alone
ess = vae_lite.objectives.effective_sample_size(log_w_ref[:, None]).item()
ess_quarters = vae_lite.objectives.effective_sample_size(log_w_ref.view(4, -1).T)  # each quarter's own
w_ref = (log_w_ref - log_w_ref.max()).exp()
ess_line = vae_lite.objectives.effective_sample_size(held_out[:, None]).item()  # the dashed line's
print(f"dashed line (q(z|x) alone): {log_px_reference:.1f} nats, ESS {ess_line:.0f} of {len(held_out):,} "
      f"({ess_line / len(held_out):.2%})\n"
      f"½ q* + ½ q(z|x): {log_px_mixture:.1f} nats, "
      f"standard error {(w_ref.std() / w_ref.mean()).item() / math.sqrt(n_samples):.2f}, "
      f"ESS {ess:,.0f} of {n_samples:,} ({ess / n_samples:.2%})")
print(f"its quarters: {', '.join(f'{v:.1f}' for v in quarters)} nats, "
      f"ESS {', '.join(f'{v:.0f}' for v in ess_quarters)}")
print(f"the two halves of q(z|x)'s samples, each pooled, differ by {abs(halves):.1f} nats; the encoder's gap: "
      f"{log_px_reference - elbo_full:.1f} to the dashed line, {log_px_mixture - elbo_full:.1f} to the mixture")
medians = [[e.median() for e in by_k.values() if len(e) >= 10] for by_k in estimates.values()]  # 10 or more each
print("the first section's medians, k = 1, 10, ...:",
      "; ".join(" ".join(f"{m:.1f}" for m in row) for row in medians), "(the prior; q(z|x))")
if data.name == "mnist":
    assert all(a < b for m in medians for a, b in zip(m, m[1:])), "the text says every median rises with k"
    if not QUICK:  # the full sample sizes
        assert max(ess / n_samples, ess_line / len(held_out)) < 0.002, "the text says both ESS are about 0.1 %"

# %% [markdown]
# With this r the ESS is about 0.1 % of the samples, as for the dashed line: a few large weights dominate.
# Such an estimate is likely low, since the rare larger weights that would raise it were not drawn; one
# drawn by luck makes it jump. The log of a mean weight is biased low on average (Jensen's inequality,
# above), and its mean rises with k toward log p(x) (Burda et al. 2015, Thm 1); the first section's
# medians rise with k too (printed). The standard error rests on the same few weights, so it is
# unreliable too: see how few samples each quarter rests on. Notebook 10 leaves out of its averages every
# image whose ESS is under 20. So the dashed line, and this estimate too, are soft references. The line
# is probably low by about the 0.7 nats between the encoder's two gaps (printed), which does not matter
# next to the prior's tens of nats.

# %% [markdown]
# ### A posterior no Gaussian fits
# With a nonlinear decoder, x | z ~ N(sin 3z, 0.3²), a Gaussian q cannot match p(z|x): at x = 0.5, a grid
# over z gives p(x) and p(z|x). (A grid works in one dimension, not in 50.)

# %%
z_fine, Normal = torch.linspace(-4, 4, 2001, dtype=torch.float64), torch.distributions.Normal
log_joint_sin = Normal(0.0, 1.0).log_prob(z_fine) + Normal(torch.sin(3 * z_fine), 0.3).log_prob(torch.tensor(0.5))
log_px_sin = torch.logsumexp(log_joint_sin, 0) + math.log(z_fine[1] - z_fine[0])  # log of the grid's sum
posterior_sin = (log_joint_sin - log_px_sin).exp()  # Bayes' rule on the grid
print(f"log p(x) = {log_px_sin:.3f}; a grid of 10 points in each of the VAE's {vae.latent_dim} dimensions: 10^{vae.latent_dim}")
plots.plot_posterior_and_gaussians(z_fine, posterior_sin, {}, title="p(z|x) for x | z ~ N(sin 3z, 0.3²), x = 0.5");

# %% jupyter={"source_hidden": true}
w_sin = Normal(torch.sin(3 * torch.randn(100_000, generator=torch.Generator().manual_seed(0))), 0.3).log_prob(torch.tensor(0.5)).exp()
se_sin = w_sin.std() / w_sin.mean() / len(w_sin) ** 0.5  # p(x|z), z ~ prior: s.e. of log(mean), delta method
assert abs(w_sin.mean().log() - log_px_sin) < 5 * se_sin, "grid and Monte Carlo p(x) disagree"
peak = (posterior_sin[1:-1] > posterior_sin[:-2]) & (posterior_sin[1:-1] > posterior_sin[2:])
assert (posterior_sin[1:-1][peak] > 0.05 * posterior_sin.max()).sum() >= 3, "the caption says several modes"

# %% [markdown]
# *Figure: the exact posterior of this decoder has several modes, near the z where sin 3z = 0.5, weighted
# by the prior. A Gaussian has one mode, so no Gaussian q matches it (the next section draws the best one).*

# %% [markdown]
# ### Why an ELBO-fitted q is a narrow proposal
# Fitting q by maximising the ELBO minimises KL(q ‖ p(z|x)) = E_q[log (q(z)/p(z|x))]. That is large
# wherever q has mass and p(z|x) has little, and costs nothing where p(z|x) has mass and q has none. So
# the best q stays inside the posterior's high region and leaves out its deep valleys, other modes and tails:
# it *tends to be narrower* than the posterior (this KL is called *mode-seeking*, or *zero-forcing*).
# Draws from it rarely reach the left-out parts, where the weights p(x, z)/q(z) are largest; that is why
# notebook 10 widens q*. MNIST's posterior is unknown, so the sin decoder's posterior (above) shows
# it: the cell finds the best Gaussian q by a grid search over μ and σ, each ELBO integrated on the grid.

# %%
mus, sigmas = torch.linspace(-3, 3, 601, dtype=torch.float64), torch.logspace(-1.5, 0.3, 100, dtype=torch.float64)
dz = (z_fine[1] - z_fine[0]).item()
entropy = 0.5 * torch.log(2 * math.pi * math.e * sigmas**2)  # -E_q[log q] of each σ
table = torch.stack([(Normal(mus[:, None], sd).log_prob(z_fine).exp() * log_joint_sin).sum(1) * dz
                     for sd in sigmas]) + entropy[:, None]  # ELBO = E_q[log p(x, z)] - E_q[log q]: (σ, μ)
i, j = divmod(table.argmax().item(), len(mus))
sigma_star, mu_star = sigmas[i].item(), mus[j].item()
sd_of = lambda d: ((z_fine - (z_fine * d).sum() / d.sum()) ** 2 * d).sum().div(d.sum()).sqrt().item()
outside = posterior_sin < 0.01 * posterior_sin.max()  # the valleys between the posterior's parts
part = ~outside & (outside.cumsum(0) == outside.cumsum(0)[(z_fine - mu_star).abs().argmin()])  # q*'s part
print(f"the best Gaussian q = N({mu_star:.2f}, {sigma_star:.2f}²): ELBO {table.max():.2f}, log p(x) {log_px_sin:.2f}\n"
      f"standard deviation of p(z|x): {sd_of(posterior_sin):.2f}; of the part q sits on, between valleys "
      f"under 1 % of the peak ({(posterior_sin * part).sum() * dz:.0%} of the mass): {sd_of(posterior_sin * part):.2f}")
assert 0 < i < len(sigmas) - 1 and 0 < j < len(mus) - 1, "the best q should lie inside the grid searched"
assert sigma_star < sd_of(posterior_sin * part) < sd_of(posterior_sin), \
    "the text says the best q is narrower than the part of p(z|x) it sits on, and that part narrower than all of it"

# %%
plots.plot_posterior_and_gaussians(z_fine, posterior_sin, {f"best Gaussian q = N({mu_star:.2f}, {sigma_star:.2f}²)":
                                                           (mu_star, sigma_star)}, title="p(z|x) and the best Gaussian q");

# %% [markdown]
# *Figure: the best Gaussian q (line) over the exact posterior (filled): one bump on the two central peaks,
# next to nothing on the modes to their left and right.*
#
# The best Gaussian sits on the two central peaks, 70 % of the posterior's mass, and is narrower even than
# they are; the other modes it leaves out. Draws from it would rarely visit them, where the weights
# p(x, z)/q(z) are largest. Its ELBO, −1.59, stays well below log p(x), −0.89: that gap is what no
# Gaussian q can close.
