# %% [markdown]
# # 06 The loss, right and wrong
#
# Previous: [05 The VAE](05_vae.ipynb) · Next: [07 The latent space](07_latent_space.ipynb)
#
# Notebook 05 trained the VAE with its loss written correctly: reconstruction error plus KL, both summed over
# one image. This notebook writes the loss wrong, in the ways the write-up we follow and much published code get
# it wrong, trains each version, and shows what it does.
#
# **Learning goals**
# - see why the KL enters the loss with a **plus** sign: train with the minus sign and watch the KL run off
#   while the loss falls far below 0, with no minimum to stop at;
# - recognise summed against averaged terms as a hidden KL weight β, and predict which β a loss has;
# - read squared error as a Gaussian log-likelihood whose fixed variance is an implicit KL weight.

# %% [markdown] tags=["badges"]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-lite/vae_lite/blob/main/notebooks/06_loss_right_and_wrong.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/vae-lite/vae_lite/main?labpath=notebooks%2F06_loss_right_and_wrong.ipynb)

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
import copy
import math

import matplotlib.pyplot as plt
import torch

import vae_lite
import vae_lite.check
from vae_lite import plots

QUICK = vae_lite.setup_notebook()

# %% [markdown]
# ## Data

# %%
data = vae_lite.load_dataset()
if QUICK:
    data = data.subset(train=3000, test=1000)
PIXELS = math.prod(data.image_shape)
SIGN_STEPS = 60 if QUICK else 300  # optimizer steps for the two runs of the sign experiment
STEPS = 150 if QUICK else 1400  # optimizer steps of 128 images for each model trained with fit
EPOCHS = max(1, round(STEPS / math.ceil(len(data.train) / 128)))
print(data)

# %% [markdown]
# ## Model
#
# The VAE of notebook 05, with the package's default sizes (its picture is at the top of notebook 05). Its loss,
# right, is the negative ELBO of each image:
#
# $$\mathcal{L}(x) = \underbrace{-\,\mathbb{E}_{q(z|x)}[\log p(x|z)]}_{\text{reconstruction error, summed over pixels}}
#   \;+\; \underbrace{\mathrm{KL}\big(q(z|x)\,\|\,p(z)\big)}_{\text{summed over latent dimensions}}.$$
#
# The three ways to get it wrong that this notebook trains:
#
# | | wrong | what it does |
# |---|---|---|
# | 1 | reconstruction error **−** KL (the write-up's sign) | the loss has no minimum: the KL runs off |
# | 2 | reconstruction error **averaged** over pixels, KL summed | the KL weighted by the number of pixels: the code is switched off |
# | 3 | reconstruction error summed, KL **averaged** over latent dimensions | the KL weighted by 1 / latent dimensions |

# %% [markdown]
# ## Experiments
#
# ### 1. The sign of the KL
#
# > **Common mistake.** The write-up gives the loss as `||x - x̂||² - KL[N(μ,σ²) || N(0,I)]`. **Wrong:**
# > reconstruction error − KL. **Right:** reconstruction error **+** KL, the negative ELBO. The KL has no upper
# > bound: move μ away from 0 or let σ grow, and it grows as far as you like. With the minus sign, the loss
# > falls as far as the KL grows.
#
# Two copies of one untrained VAE are trained on the same batches for a few hundred steps with `train_step`: one
# with the package's loss (`VAE.loss`), one with the write-up's sign. Every step records the mean KL, reconstruction
# error and loss of its batch; a run whose loss stops being a finite number stops there.
#
# **Predict, then run.** A negative ELBO of a binary image can never fall below 0 (it is at least −log p(x), and
# p(x) ≤ 1 for binary data). Where will each loss be after a few hundred steps?

# %%
class WrongSignVAE(vae_lite.VAE):
    """The write-up's loss: reconstruction error − KL."""

    def loss(self, x, beta=1.0):
        terms = vae_lite.elbo(self, x)
        return -terms.reconstruction - terms.kl, {"reconstruction": terms.reconstruction, "kl": terms.kl}


def train_steps(model, steps, seed=0):
    """vae_lite's train_step on the same batches for every model; the batch means at every step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    record = {"loss": [], "kl": [], "reconstruction_error": []}
    for step in range(steps):
        x = vae_lite.binarize(data.train[torch.randint(len(data.train), (128,), generator=generator)], generator)
        try:
            means = vae_lite.train_step(model, x, optimizer)
        except vae_lite.TrainingError:
            print(f"step {step}: the loss is no longer a finite number, training stopped")
            break
        record["loss"].append(means["loss"])
        record["kl"].append(means["kl"])
        record["reconstruction_error"].append(-means["reconstruction"])
    return record


torch.manual_seed(0)
right_model = vae_lite.VAE(data.image_shape)  # vae_lite's loss: reconstruction error + KL
wrong_model = WrongSignVAE(data.image_shape)
wrong_model.load_state_dict(right_model.state_dict())  # the same start
right = train_steps(right_model, SIGN_STEPS)
wrong = train_steps(wrong_model, SIGN_STEPS)
for name, run in (("right sign (+ KL)", right), ("wrong sign (− KL)", wrong)):
    print(f"{name}: after {len(run['loss'])} steps  KL {run['kl'][-1]:9.3g}   reconstruction error "
          f"{run['reconstruction_error'][-1]:9.3g}   loss {run['loss'][-1]:10.3g}   (lowest loss {min(run['loss']):.3g})")
assert min(right["loss"]) > 0 and max(right["kl"]) < 1000, \
    "vae_lite's loss fell below 0 or its KL ran off: the loss should be reconstruction error PLUS the KL"
assert min(wrong["loss"]) < 0, "with the wrong sign the loss should fall below 0, where no negative ELBO can be"
assert wrong["kl"][-1] > 100 * right["kl"][-1], "with the wrong sign the KL should run off"

# %% [markdown]
# *Figure: three panels against the optimizer step, for the right and the wrong sign: the KL per image (log
# scale), the reconstruction error per image (log scale), and the loss being minimised (symmetric log scale,
# through 0).*

# %%
plots.plot_sign_runs({"right: reconstruction error + KL": right, "wrong: reconstruction error − KL": wrong},
                     keys=("kl", "reconstruction_error", "loss"))
plt.show()
worse = wrong["reconstruction_error"][-1] / wrong["reconstruction_error"][0]
print(f"wrong sign: the loss fell to {min(wrong['loss']):.2g} nats while the reconstruction error grew "
      f"{worse:.2g}-fold; the code z is drowned in noise, and the loss calls that progress.")

# %% [markdown]
# The same failure, exactly, without training: take the right-sign model above and stretch its code by a factor c.
# Multiply μ and σ by c, and divide the decoder's first layer by c. Every z becomes c z, the decoder undoes the
# factor, and every reconstruction stays exactly the same. Only the KL changes: it grows like c².
#
# **Predict, then run.** As c grows, which loss rises and which falls?

# %%
def stretched(model, c):
    """The same model with its code stretched by c: μ and σ times c, the decoder's first layer divided by c."""
    model = copy.deepcopy(model)
    last = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]  # outputs (μ, log σ²)
    first = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)][0]  # reads z
    d = model.latent_dim
    with torch.no_grad():
        last.weight[:d] *= c  # μ -> c μ
        last.bias[:d] *= c
        last.bias[d:] += 2 * math.log(c)  # log σ² -> log σ² + 2 log c, so σ -> c σ
        first.weight /= c  # W (c z) / c = W z
    return model


x = vae_lite.binarized_test_set(data)[:500]
rows = []
with torch.no_grad():
    for c in (1, 2, 4, 8):
        torch.manual_seed(2)  # the same ε for every c
        loss, terms = stretched(right_model, c).loss(x)
        reconstruction_error, kl = -terms["reconstruction"].mean().item(), terms["kl"].mean().item()
        rows.append(dict(c=c, error=reconstruction_error, kl=kl, right=loss.mean().item(),
                         wrong=reconstruction_error - kl))
        print(f"c = {c}:  reconstruction error {reconstruction_error:7.2f}   KL {kl:8.1f}   "
              f"right loss {rows[-1]['right']:8.1f}   wrong loss {rows[-1]['wrong']:8.1f}")
assert all(abs(r["error"] - rows[0]["error"]) < 1e-2 for r in rows), \
    "stretching the code by c should leave every reconstruction unchanged, if z = μ + σ ε uses σ, not σ²"
assert all(a["right"] < b["right"] for a, b in zip(rows, rows[1:])), \
    "vae_lite's loss should rise as the KL grows for the same reconstructions: reconstruction error PLUS the KL"
assert all(a["wrong"] > b["wrong"] for a, b in zip(rows, rows[1:])), "the wrong-sign loss should fall as c grows"

# %% [markdown]
# Nothing about the images changed, yet the wrong loss calls each stretched model better, without end. The right
# loss charges for the extra KL: a code that carries the same information should not cost more nats.
#
# ### 2. Summed against averaged
#
# > **Common mistake.** Averaging one term and summing the other. `F.binary_cross_entropy(x_hat, x)` **averages**
# > over the pixels by default, while the KL is usually **summed** over the latent dimensions. **Wrong:**
# > `bce_mean + kl_sum`. **Right:** both summed over one image (`reduction="sum"`, or sum over pixels and average
# > over the batch only). The wrong loss is the right one with the KL weighted by the number of pixels, then
# > divided by it: β = pixels. The reverse (`bce_sum + kl_mean`, the KL averaged over the latent dimensions)
# > is β = 1 / latent dimensions.
#
# Both mistakes, written out as models. First, a check that each is the β-weighted loss in disguise:

# %%
class AveragedReconstructionVAE(vae_lite.VAE):
    """The mistake: the reconstruction term averaged over pixels, the KL summed over dimensions."""

    def loss(self, x, beta=1.0):
        terms = vae_lite.elbo(self, x)
        mistaken = -terms.reconstruction / PIXELS + terms.kl
        return mistaken, {"reconstruction": terms.reconstruction, "kl": terms.kl}


class AveragedKLVAE(vae_lite.VAE):
    """The reverse: the reconstruction term summed over pixels, the KL averaged over latent dimensions."""

    def loss(self, x, beta=1.0):
        terms = vae_lite.elbo(self, x)
        mistaken = -terms.reconstruction + terms.kl / self.latent_dim
        return mistaken, {"reconstruction": terms.reconstruction, "kl": terms.kl}


torch.manual_seed(0)
averaged_reconstruction = AveragedReconstructionVAE(data.image_shape)
torch.manual_seed(0)
averaged_kl = AveragedKLVAE(data.image_shape)  # the same start as every other model here
LATENT = averaged_kl.latent_dim
x = vae_lite.binarize(data.test[:64], torch.Generator().manual_seed(0))
for model, beta, scale in ((averaged_reconstruction, PIXELS, 1 / PIXELS), (averaged_kl, 1 / LATENT, 1.0)):
    torch.manual_seed(1)
    mistaken, _ = model.loss(x)
    torch.manual_seed(1)
    weighted, _ = vae_lite.VAE.loss(model, x, beta=beta)  # the right loss, with KL weight beta
    assert torch.allclose(mistaken, scale * weighted, rtol=1e-5), "an averaged term is a KL weight in disguise"
    print(f"{type(model).__name__}: its loss = {scale:.4g} × (negative β-ELBO with β = {beta:.4g}): checked")

# %% [markdown]
# **Predict, then run.** Each model trains for the same number of steps as a right one. The first weighs the KL
# as many times too much as there are pixels, the second as many times too little as there are latent dimensions. For each: will its KL end above or below
# the right model's, and will its samples look better or worse?

# %%
def describe(name, model, history):
    with torch.inference_mode():
        mu, logvar = model.encode(data.test)
        scale = vae_lite.reparameterize(mu, logvar).pow(2).mean().item()  # 1 under the prior
    r = history.last
    return dict(name=name, kl=r["test_kl"], error=-r["test_reconstruction"], loss=-r["test_elbo"], scale=scale)


torch.manual_seed(0)
right_vae = vae_lite.VAE(data.image_shape)
runs = [describe("right: both summed (β = 1)", right_vae, vae_lite.fit(right_vae, data, epochs=EPOCHS, progress=False))]
for name, model in ((f"reconstruction averaged (β = {PIXELS})", averaged_reconstruction),
                    (f"KL averaged (β = 1/{LATENT})", averaged_kl)):
    runs.append(describe(name, model, vae_lite.fit(model, data, epochs=EPOCHS, progress=False)))
print(f"{'after ' + str(EPOCHS) + ' epochs, test set, nats per image':40s}  {'KL':>6s}  {'recon. error':>12s}  "
      f"{'negative ELBO':>13s}  {'mean z²':>7s}")
for r in runs:
    print(f"{r['name']:40s}  {r['kl']:6.1f}  {r['error']:12.1f}  {r['loss']:13.1f}  {r['scale']:7.2f}")
right_run, mean_reconstruction_run, mean_kl_run = runs
assert right_run["kl"] > 1, "the VAE trained with both terms summed should carry information: its KL well above 0"
assert mean_reconstruction_run["kl"] < 0.2 * right_run["kl"], "with the KL weighted by the pixels the code should carry almost nothing"
assert mean_kl_run["kl"] > 1.5 * right_run["kl"], "with the KL weighted by 1/d the code should carry much more"
assert mean_kl_run["error"] < right_run["error"], "with the KL weighted by 1/d the reconstructions should be better"
assert abs(mean_kl_run["scale"] - 1) > abs(right_run["scale"] - 1), \
    "with the KL weighted by 1/d the codes should sit further from the prior: mean z² further from 1"
assert right_run["loss"] < min(mean_reconstruction_run["loss"], mean_kl_run["loss"]), \
    "the right loss should reach the best negative ELBO: it is the one it minimises"

# %% [markdown]
# *Figure: three rows of 12 decoded prior samples, z ~ N(0, I), the same z in every row: the right VAE, the one
# with the reconstruction averaged, and the one with the KL averaged.*

# %%
z = torch.randn(12, LATENT, generator=torch.Generator().manual_seed(1))
with torch.inference_mode():
    samples = [model.decode(z) for model in (right_vae, averaged_reconstruction, averaged_kl)]
plots.show_rows(dict(zip([r["name"] for r in runs], samples)), ncols=12, size=0.9)
plt.show()
alike = samples[1].std(dim=0).mean().item() / samples[0].std(dim=0).mean().item()
print(f"how much the samples differ from each other, relative to the right VAE's: reconstruction averaged "
      f"{alike:.2f}")
assert alike < 0.5, "with the code switched off, every sample should look alike"

# %% [markdown]
# With the reconstruction averaged, the code is switched off: the KL is about 0, every z decodes to the same blur
# (the decoder's guess for any image), and the model is no better than no code at all. With the KL averaged, the
# code carries more and reconstructs better, but its codes sit further from the prior (mean z² further from 1), so
# a z drawn from N(0, I) lands more often where the decoder was never trained: compare the third row's samples
# with the first.
#
# Both are the right VAE with another β. Notebook 08 varies β on purpose.
#
# ### 3. Squared error is a Gaussian log-likelihood
#
# > **Common mistake.** Calling squared error "just a loss". **Wrong:** `||x - x̂||²` is unrelated to a
# > likelihood. **Right:** it is the log-likelihood of a Gaussian decoder p(x|z) = N(x̂, s² I) with a fixed
# > s, up to a scale and a constant:
# > $-\log p(x|z) = \frac{1}{2s^2}\|x-\hat x\|^2 + D\,(\log s + \tfrac12\log 2\pi)$.
# > So `||x - x̂||² + KL` is, up to a factor, a Gaussian VAE with s² = ½, and the choice of s is an
# > implicit KL weight: the same loss as `||x - x̂||² + 2s² · KL`. (Binary cross-entropy, likewise, is the
# > Bernoulli log-likelihood, and a true likelihood only on binary data.)
#
# The cell below checks the identity numerically for two values of s:

# %%
# NBVAL_CHECK_OUTPUT
x = data.test[:64]
x_hat = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
for s in (0.1, 1.0):
    log_likelihood = vae_lite.objectives.gaussian_log_likelihood(x_hat, x, torch.tensor(s).log())
    squared_error = (x - x_hat).pow(2).sum(dim=(1, 2, 3))
    formula = -squared_error / (2 * s**2) - PIXELS * (math.log(s) + 0.5 * math.log(2 * math.pi))
    assert torch.allclose(log_likelihood, formula, rtol=1e-5), \
        "a Gaussian log-likelihood should be -||x - x̂||² / (2 s²) - D (log s + ½ log 2π): check the scale s² and the constant"
print("log N(x; x̂, s² I) = -||x - x̂||² / (2 s²) - D (log s + ½ log 2π): checked for s = 0.1 and s = 1")

# %% [markdown]
# **Predict, then run.** Two Gaussian VAEs train on the grey-level images; they differ only in s. Which one keeps
# more information in its code, the one with s = 0.1 or the one with s = 1?

# %%
gaussian_kl = {}
for s in (0.1, 1.0):
    torch.manual_seed(0)
    gaussian = vae_lite.VAE(data.image_shape, likelihood="gaussian", gaussian_std=s)
    history = vae_lite.fit(gaussian, data, epochs=max(1, EPOCHS // 2), progress=False)
    gaussian_kl[s] = history.last["test_kl"]
    print(f"Gaussian decoder, s = {s}: the KL weighs 2s² = {2 * s**2:g} against squared error; "
          f"test KL {gaussian_kl[s]:.1f} nats")
assert gaussian_kl[1.0] < 0.25 * gaussian_kl[0.1], "a larger s should leave much less information in the code"

# %% [markdown]
# The larger s makes squared error count for less, which is the same as a larger KL weight: the code keeps
# far less. A "VAE with MSE loss" has a β whether or not its author chose one.
#
# ## Common mistakes
#
# The three mistakes above, and what each did here (computed from the runs above):

# %%
print(f"{'loss written as':44s}  {'is β':>8s}  what it did")
print(f"{'reconstruction error − KL':44s}  {'(none)':>8s}  KL ran off to {wrong['kl'][-1]:.2g} nats in "
      f"{len(wrong['kl'])} steps")
print(f"{'reconstruction averaged, KL summed':44s}  {PIXELS:8d}  KL {mean_reconstruction_run['kl']:.2f} nats "
      f"(right: {right_run['kl']:.1f}): the code switched off")
print(f"{'reconstruction summed, KL averaged':44s}  {'1/' + str(LATENT):>8s}  KL {mean_kl_run['kl']:.1f} nats "
      f"(right: {right_run['kl']:.1f}), mean z² {mean_kl_run['scale']:.2f} (prior: 1)")
print(f"{'squared error + KL':44s}  {'2s²':>8s}  s = 1 kept {gaussian_kl[1.0]:.1f} nats, s = 0.1 kept "
      f"{gaussian_kl[0.1]:.1f}")

# %% [markdown]
# ## Exercises
#
# **Which β is it?** Complete `effective_beta`: a loss reduces its reconstruction term and its KL each by `"sum"`
# or `"mean"` over one image. Return the β of the right (summed) objective that it is proportional to.

# %%
# NBVAL_CHECK_OUTPUT
def effective_beta(reconstruction, kl, pixels, latent_dim):
    raise NotImplementedError  # your code here


vae_lite.check.effective_beta(effective_beta)

# %% jupyter={"source_hidden": true} tags=["solution"]
# NBVAL_CHECK_OUTPUT
# Solution: rec / a + kl / b = (rec + (a / b) kl) / a, with a, b the numbers each term is divided by.
def effective_beta(reconstruction, kl, pixels, latent_dim):
    a = pixels if reconstruction == "mean" else 1
    b = latent_dim if kl == "mean" else 1
    return a / b


assert vae_lite.check.effective_beta(effective_beta), "the solution should pass every case"

# %% [markdown]
# More to try:
#
# 1. Train the wrong-sign model with a learning rate ten times smaller. Does it still run off, only later?
# 2. Average both terms (`bce_mean + kl_mean`). Which β is that, and is it closer to 1 than either mistake alone?
# 3. Give the Gaussian decoder a learned s (`gaussian_std=None`). Which s does it learn, and what KL weight does
#    that amount to?
#
# ## Summary
# - The loss is reconstruction error **plus** KL. With the minus sign it has no minimum: the KL runs off and the
#   loss falls below 0 while the reconstructions get worse.
# - Averaging one term and summing the other is a hidden β: the number of pixels (the code switches off) or one
#   over the latent dimensions (the codes leave the prior).
# - Squared error is a Gaussian log-likelihood; its fixed variance is an implicit KL weight.
#
# Next: [07 The latent space](07_latent_space.ipynb) looks inside z.
