# %% [markdown]
# # 02 The ELBO: log p(x) = ELBO + KL, derived and checked line by line
#
# Previous: [01 The autoencoder](01_autoencoder.ipynb) · Next: [03 The reparameterization trick](03_reparameterization.ipynb)
#
# **Learning goals**
# - Derive log p(x) = ELBO(q) + KL(q(z) ‖ p(z|x)) step by step, for *any* distribution q.
# - See it hold exactly (sympy) on a model where everything is known in closed form.
# - See that the ELBO is largest, and equals log p(x), when q is the true posterior; the gap is the KL.
# - Estimate the same numbers by Monte Carlo with torch, and meet Jensen's inequality as a second route.
#
# **The toy model.** One latent number and one observed number:
# z ~ N(0, 1) (the prior), x | z ~ N(w z + b, s²) (the decoder). Because everything is Gaussian
# and linear, sympy can compute p(x) and the posterior p(z|x) exactly, so every step can be checked.

# %% [markdown]
# ## Setup

# %%
import math

import sympy as sp
import torch
from IPython.display import Math, display

import vae_lite
from vae_lite import check, plots
from vae_lite import symbolic as S

torch.manual_seed(0)
QUICK = vae_lite.quick_mode()
print("quick mode" if QUICK else "class mode")

# %% [markdown]
# ## Model
#
# The prior and the decoder's log-densities, and what sympy derives from them: the evidence
# p(x) = ∫ p(x|z) p(z) dz and the posterior p(z|x) = p(x, z) / p(x), whose mean and standard
# deviation are read off the result (see `vae_lite.symbolic.linear_gaussian`).

# %%
# NBVAL_CHECK_OUTPUT
model = S.linear_gaussian()
for name in ("log_prior", "log_likelihood", "log_evidence", "posterior_mean", "posterior_std"):
    print(f"{name:>15} = {model[name]}")

# %% [markdown]
# ## Derivation
#
# Take any density q(z) (later: the encoder's q(z|x)). Here q = N(μ_q, σ_q²) with μ_q and σ_q left
# as symbols, so every check below holds for *every* Gaussian q at once. Each line is turned into an
# expression that must be 0 if the line is right; sympy simplifies it. A line that printed `False`
# would be a wrong line.
#
# 1. Bayes' rule: p(z|x) = p(x, z) / p(x), so log p(x) = log p(x, z) − log p(z|x) for every z.
# 2. The left side does not depend on z and q integrates to 1, so we may average over z ~ q:
#    log p(x) = E_q[log p(x, z) − log p(z|x)].
# 3. Add and subtract E_q[log q(z)]:
#    log p(x) = E_q[log p(x, z) − log q(z)] + E_q[log q(z) − log p(z|x)] = **ELBO(q) + KL(q ‖ p(z|x))**.
# 4. Split the ELBO: E_q[log p(x|z)] + E_q[log p(z) − log q(z)] = reconstruction − KL(q ‖ p(z)),
#    the form a VAE is trained with.

# %%
# NBVAL_CHECK_OUTPUT
steps = S.elbo_derivation(model)
for step in steps:
    print(step.holds(), " ", step.says)
assert all(step.holds() for step in steps), "a step of the derivation does not hold"

# %% [markdown]
# The two terms of step 3, as sympy integrates them for q = N(μ_q, σ_q²):

# %%
# NBVAL_CHECK_OUTPUT
elbo, kl = S.elbo_terms(model)
display(Math(r"\mathrm{ELBO}(\mu_q, \sigma_q) = " + sp.latex(S.tidy(elbo))))
display(Math(r"\mathrm{KL}(q \,\|\, p(z|x)) = " + sp.latex(S.tidy(kl))))
print("ELBO + KL - log p(x) simplifies to", sp.simplify(sp.expand_log(elbo + kl - model["log_evidence"], force=True)))

# %% [markdown]
# **The ELBO is largest at the true posterior.** Setting both derivatives of the ELBO to zero and
# solving (sympy's `solve`) gives q's best mean and standard deviation; compare with the posterior's.
# There, the gap KL(q ‖ p(z|x)) is 0 and the ELBO *equals* log p(x).

# %%
# NBVAL_CHECK_OUTPUT
(best,) = S.elbo_maximiser(model)
print("best mu_q    =", best[S.mu_q], "  posterior mean:", model["posterior_mean"])
print("best sigma_q =", best[S.sigma_q], "  posterior std: ", model["posterior_std"])
assert sp.simplify(best[S.mu_q] - model["posterior_mean"]) == 0
assert sp.simplify(best[S.sigma_q] - model["posterior_std"]) == 0
gap_at_best = sp.simplify(kl.subs(best))
print("KL(q || p(z|x)) at the best q:", gap_at_best)
assert gap_at_best == 0, "at the true posterior the bound should be tight"

# %% [markdown]
# ## Experiments
#
# ### Numbers for one data point
# w = 2, b = 0.5, s = 0.8 (the values `vae_lite.check.TOY_MODEL` uses) and x = 1.7. The cell
# evaluates the exact expressions above for three choices of q.

# %%
# NBVAL_CHECK_OUTPUT
point = {S.x: 1.7, S.w: 2.0, S.b: 0.5, S.s: 0.8}
log_px = float(model["log_evidence"].subs(point))
post_mean, post_std = float(model["posterior_mean"].subs(point)), float(model["posterior_std"].subs(point))
choices = {"prior N(0, 1)": (0.0, 1.0), "N(1, 0.3^2)": (1.0, 0.3), "true posterior": (post_mean, post_std)}
exact = {}
print(f"log p(x) = {log_px:.4f};  posterior N({post_mean:.4f}, {post_std:.4f}^2)")
for name, (m, sd) in choices.items():
    q = {S.mu_q: m, S.sigma_q: sd}
    exact[name] = (float(elbo.subs(point).subs(q)), float(kl.subs(point).subs(q)))
    print(f"q = {name:<15} ELBO = {exact[name][0]:8.4f}   KL(q || p(z|x)) = {exact[name][1]:.4f}   "
          f"sum = {sum(exact[name]):.4f}")
    assert abs(sum(exact[name]) - log_px) < 1e-9 and exact[name][1] >= 0

# %% [markdown]
# The ELBO as q's mean slides (σ_q fixed at the posterior's): it touches log p(x) only at the posterior mean.

# %%
mus = torch.linspace(post_mean - 2, post_mean + 2, 101)
elbo_fn = sp.lambdify((S.mu_q, S.sigma_q), elbo.subs(point), "math")
plots.plot_elbo_gap(mus, [elbo_fn(float(m), post_std) for m in mus], log_px, post_mean);

# %% [markdown]
# ### The same numbers by Monte Carlo, with torch
# `vae_lite.LinearGaussian` is this model in torch; `vae_lite.elbo` estimates the reconstruction term
# E_q[log p(x|z)] with samples of z and adds the closed-form KL(q ‖ p(z)) (notebook 04). With n
# samples the estimate has a standard error, and should land within a few standard errors of the
# exact value.

# %%
n = 2_000 if QUICK else 20_000
x = torch.tensor([[1.7]], dtype=torch.float64)
print(f"{'q':<15} {'exact':>9} {'Monte Carlo':>12} {'std error':>10}")
for name, (m, sd) in choices.items():
    q_of_x = lambda x, m=m, sd=sd: (torch.full((len(x), 1), m, dtype=x.dtype), torch.full((len(x), 1), 2 * math.log(sd), dtype=x.dtype))
    toy = vae_lite.LinearGaussian(w=[2.0], b=[0.5], s=0.8, q=q_of_x)
    mu, logvar = toy.encode(x)
    z = vae_lite.reparameterize(mu.expand(n, 1, 1), logvar.expand(n, 1, 1))
    reconstruction = toy.log_likelihood(x, z)[:, 0]  # one value per sample of z
    estimate = reconstruction.mean() - vae_lite.kl_standard_normal(mu, logvar)[0]
    std_error = reconstruction.std() / math.sqrt(n)
    print(f"{name:<15} {exact[name][0]:9.4f} {estimate.item():12.4f} {std_error.item():10.4f}")
    assert abs(estimate.item() - exact[name][0]) < 5 * std_error.item() + 1e-9, \
        f"the Monte Carlo ELBO for q = {name} is more than 5 standard errors from the exact value"
print("exact log p(x) from torch:", round(toy.log_evidence(x[0]).item(), 4))
assert abs(toy.log_evidence(x[0]).item() - log_px) < 1e-9

# %% [markdown]
# ### Jensen's inequality: the other route to the bound
# log p(x) = log ∫ p(x, z) dz = log E_q[p(x, z) / q(z)]. The log is concave (its second derivative is
# negative), so the log of an average is at least the average of the logs (Jensen):
# log E_q[p(x, z)/q(z)] ≥ E_q[log p(x, z)/q(z)] = ELBO. Sympy checks both ingredients:

# %%
# NBVAL_CHECK_OUTPUT
second_derivative, mean_ratio = S.jensen_log()
print("d²/dt² log t =", second_derivative, " (negative for every t > 0: log is concave)")
print("log E_q[p(x,z)/q(z)] - log p(x) simplifies to", sp.simplify(sp.expand_log(sp.log(mean_ratio) - model["log_evidence"], force=True)))

# %% [markdown]
# Numerically: with weights p(x, z)/q(z) for z ~ q, the mean of the log weights estimates the ELBO
# and the log of the mean weight estimates log p(x). The second is always the larger one.

# %%
q = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)  # q = the prior
z = q.sample((n,))
log_weights = (torch.distributions.Normal(0.0, 1.0).log_prob(z)
               + torch.distributions.Normal(2.0 * z + 0.5, 0.8).log_prob(torch.tensor(1.7)) - q.log_prob(z))
mean_of_logs = log_weights.mean().item()
log_of_mean = (torch.logsumexp(log_weights, 0) - math.log(n)).item()
print(f"mean of log weights {mean_of_logs:.4f} (exact ELBO {exact['prior N(0, 1)'][0]:.4f})")
print(f"log of mean weight  {log_of_mean:.4f} (exact log p(x) {log_px:.4f})")
assert log_of_mean >= mean_of_logs, "Jensen: the log of a mean is at least the mean of the logs"

# %% [markdown]
# ## Common mistakes
#
# > **Common mistake.** Writing the bound as `log(x) ≥ …`. The left side is **log p(x)**, the log
# > *evidence* (the probability the model gives to the data), not the log of the data. Read literally,
# > log(x) is not even defined for x ≤ 0, and where it is defined it is no bound: the cell below finds
# > x where log x falls below the ELBO, while log p(x) ≥ ELBO holds at every x.

# %%
# NBVAL_CHECK_OUTPUT
elbo_at = sp.lambdify((S.x,), elbo.subs({S.w: 2.0, S.b: 0.5, S.s: 0.8, S.mu_q: 0.0, S.sigma_q: 1.0}), "math")
log_evidence_at = sp.lambdify((S.x,), model["log_evidence"].subs({S.w: 2.0, S.b: 0.5, S.s: 0.8}), "math")
xs = [0.01, 0.1, 0.5, 1.0, 1.7, 3.0]
print("x       log p(x)   log x    ELBO(q = prior)")
for xv in xs:
    print(f"{xv:<6} {log_evidence_at(xv):9.3f} {math.log(xv):8.3f} {elbo_at(xv):9.3f}")
assert all(log_evidence_at(xv) >= elbo_at(xv) for xv in xs)
assert any(math.log(xv) < elbo_at(xv) for xv in xs), "log x is not a bound on anything here"

# %% [markdown]
# > **Common mistake.** Calling N(0, 1) the posterior p(z|x). N(0, 1) is the **prior** p(z); the
# > posterior depends on x (its mean above contains x) and is narrower. Take q = the prior and the
# > bound is *not* tight: the gap is KL(prior ‖ posterior) > 0.

# %%
# NBVAL_CHECK_OUTPUT
print(f"prior N(0, 1) vs posterior N({post_mean:.3f}, {post_std:.3f}^2) at x = 1.7")
print(f"gap log p(x) - ELBO(q = prior) = {log_px - exact['prior N(0, 1)'][0]:.4f} nats")
assert log_px - exact["prior N(0, 1)"][0] > 0.1 and abs(post_mean) > 0.1 and post_std < 1

# %% [markdown]
# > **Common mistake.** The loss written as `‖x − x̂‖² − KL`. The loss to **minimise** is the
# > negative ELBO = reconstruction error **plus** KL(q ‖ p(z)). With the minus sign, minimising
# > *rewards* a large KL: shrinking σ_q towards 0 drives it to −∞, the opposite of what we want.

# %%
# NBVAL_CHECK_OUTPUT
reconstruction_term = S.expectation(model["log_likelihood"], S.z, S.mu_q, S.sigma_q).subs(point)
kl_prior = S.kl_gaussians(S.mu_q, S.sigma_q, 0, 1)


def loss(m, sd, sign):
    """-E_q[log p(x|z)] + sign * KL(q || p(z)) for the toy model at x = 1.7; sign=+1 is right."""
    q = {S.mu_q: m, S.sigma_q: sd}
    return -float(reconstruction_term.subs(q)) + sign * float(kl_prior.subs(q))


for sign, name in ((+1, "right (+KL)"), (-1, "wrong (-KL)")):
    print(f"{name}: loss at the posterior {loss(post_mean, post_std, sign):8.3f},  at sigma_q = 0.001 {loss(post_mean, 1e-3, sign):8.3f}")
assert loss(post_mean, post_std, +1) < loss(post_mean, 1e-3, +1), "the right loss prefers the posterior"
assert loss(post_mean, 1e-3, -1) < loss(post_mean, post_std, -1), "the wrong loss prefers a collapsed q"

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** Write `elbo_monte_carlo(x, mu_q, sigma_q, n)` for the toy model with w = 2, b = 0.5,
# s = 0.8: draw n samples z ~ q = N(μ_q, σ_q²) and average log p(x, z) − log q(z). Return one number.
# `torch.distributions.Normal(mean, std).log_prob` gives the log-densities.

# %%
def elbo_monte_carlo(x, mu_q, sigma_q, n):
    raise NotImplementedError  # your code here


check.elbo_monte_carlo(elbo_monte_carlo);

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution
def elbo_monte_carlo(x, mu_q, sigma_q, n):
    Normal = torch.distributions.Normal
    q = Normal(torch.tensor(mu_q, dtype=torch.float64), sigma_q)
    z = q.sample((n,))
    log_joint = Normal(0.0, 1.0).log_prob(z) + Normal(2.0 * z + 0.5, 0.8).log_prob(torch.tensor(x))
    return (log_joint - q.log_prob(z)).mean()


assert check.elbo_monte_carlo(elbo_monte_carlo)

# %% [markdown]
# **Exercise 2 (pen and paper, then check).** Why is every log weight log p(x, z) − log q(z) in the
# Jensen experiment *exactly* log p(x), with zero spread, when q is the true posterior? Check it with
# `q = torch.distributions.Normal(post_mean, post_std)`.

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution: with q = p(z|x), p(x, z) / q(z) = p(x, z) / p(z|x) = p(x) for every z (Bayes' rule, step 1),
# so every weight is the same number and both averages equal log p(x): Jensen holds with equality.
q = torch.distributions.Normal(torch.tensor(post_mean, dtype=torch.float64), post_std)
z = q.sample((1000,))
log_weights = (torch.distributions.Normal(0.0, 1.0).log_prob(z)
               + torch.distributions.Normal(2.0 * z + 0.5, 0.8).log_prob(torch.tensor(1.7)) - q.log_prob(z))
print(f"log weights: mean {log_weights.mean():.6f}, spread {log_weights.std():.1e}; log p(x) = {log_px:.6f}")
assert log_weights.std() < 1e-6 and abs(log_weights.mean().item() - log_px) < 1e-6

# %% [markdown]
# ## Summary
# - For every q: log p(x) = ELBO(q) + KL(q ‖ p(z|x)); the KL is ≥ 0, so the ELBO is a lower bound.
# - The bound is tight exactly when q is the posterior; maximising the ELBO over q pushes q towards it.
# - The ELBO splits into reconstruction − KL(q ‖ p(z)); the loss is its negative: reconstruction error **+** KL.
# - In a VAE, q(z|x) = N(μ(x), σ(x)²) comes from the encoder and the ELBO is estimated with samples of z.
#   Next: [03 The reparameterization trick](03_reparameterization.ipynb), how gradients get through those samples.
