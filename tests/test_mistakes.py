"""The notebooks' checks can fail: each common mistake, injected into vae_lite inside a notebook's
kernel, trips an assert whose message names what is wrong (an AssertionError, not a crash).

How a row runs: a fresh kernel starts with IPYTHONDIR pointing at a temporary profile whose
startup file injects the mistake; the notebook's text twin then runs in quick mode, cell by
cell, and stops at the first error. That error must be an AssertionError raised by the cell
the row names, with a message matching the row's pattern. Cells after it never run, so a row
costs only the notebook up to its catching cell.

A mistake replaces the *code* of one function of vae_lite (function.__code__ = ...), so every
name bound to that function sees it: vae_lite.elbo, vae_lite.objectives.elbo and the elbo
that models.py imported are one function object. The package itself has no test hooks.

Adding rows (notebooks 05-11): put a new Mistake in MISTAKES (a def with the same name and
parameters as the target, doing the wrong thing; the target module's globals are available),
then a Catch naming the notebook, a line of the catching cell and a regex for its message.
One Catch per notebook that should catch the mistake; keep it to the cheapest notebook when
several do (the full table: VAE_LITE_MISTAKES=all, see test_mistake_table).
"""

import json
import os
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import jupytext
import pytest
from conftest import mnist_available

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


@dataclass(frozen=True)
class Mistake:
    says: str  # the mistake in words
    source: str  # where it comes from: the write-up's list (TEACHING.md) or the peers' trackers
    target: str  # dotted path of the function whose code is replaced
    code: str  # a def with the target's name and parameters that makes the mistake


@dataclass(frozen=True)
class Catch:
    mistake: str  # a key of MISTAKES
    notebook: str  # the twin's name without .py
    cell: str  # a line of the catching cell (unique among the notebook's code cells)
    message: str  # a regex the AssertionError's message must match
    mnist_only: bool = False  # the catch relies on MNIST's numbers (a shipped model, published values)


MISTAKES = {
    "loss with -KL": Mistake(
        "the ELBO as reconstruction + KL (the loss ||x - x_hat||^2 - KL)", "write-up 1; pytorch/examples #824",
        "vae_lite.objectives.elbo", """
        def elbo(model, x, beta=1.0, samples=1, generator=None, y=None):
            labels = () if y is None else (y,)
            mu, logvar = model.encode(x, *labels)
            z = reparameterize(mu.expand(samples, *mu.shape), logvar.expand(samples, *logvar.shape), generator)
            reconstruction = model.log_likelihood(x, z, *labels).mean(dim=0)
            kl = kl_standard_normal(mu, logvar)
            return ELBO(reconstruction + beta * kl, reconstruction, kl)
        """),
    "N(0, I) as the posterior": Mistake(
        "the posterior p(z|x) taken to be N(0, I), the prior", "write-up 2",
        "vae_lite.variants.LinearGaussian.posterior", """
        def posterior(self, x):
            m = torch.zeros(x.shape[:-1], dtype=x.dtype)
            return m.unsqueeze(-1), torch.zeros_like(m).unsqueeze(-1)
        """),
    "sigma^2 for sigma when sampling": Mistake(
        "z = mu + sigma^2 * eps (sigma = E[(x - mu)^2])", "write-up 3; keras #3283",
        "vae_lite.objectives.reparameterize", """
        def reparameterize(mu, logvar, generator=None):
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            return mu + torch.exp(logvar) * eps
        """),
    "log x for log p(x)": Mistake(
        "log x on the left of the bound instead of log p(x)", "write-up 4",
        "vae_lite.variants.LinearGaussian.log_evidence", """
        def log_evidence(self, x):
            return torch.log(x).sum(-1)
        """),
    "squared error for the Gaussian log-likelihood": Mistake(
        "-||x - mean||^2 as the Gaussian log-likelihood, without 1/(2 sigma^2) and the constant", "write-up 5",
        "vae_lite.objectives.gaussian_log_likelihood", """
        def gaussian_log_likelihood(mean, x, log_std):
            return -(x - mean).pow(2).sum(dim=(-3, -2, -1))
        """),
    "reconstruction averaged over pixels": Mistake(
        "the Bernoulli log-likelihood averaged over pixels instead of summed", "pytorch/examples #234; keras #3373",
        "vae_lite.objectives.bernoulli_log_likelihood", """
        def bernoulli_log_likelihood(logits, x):
            return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").mean(dim=(-3, -2, -1))
        """),
    "KL averaged over dimensions": Mistake(
        "the KL averaged over latent dimensions instead of summed", "pytorch/examples #234",
        "vae_lite.objectives.kl_standard_normal", """
        def kl_standard_normal(mu, logvar):
            return 0.5 * (mu.pow(2) + logvar.expm1() - logvar).mean(dim=-1)
        """),
    "KL without the 1/2": Mistake(
        "KL = mu^2 + sigma^2 - log sigma^2 - 1", "peers",
        "vae_lite.objectives.kl_standard_normal", """
        def kl_standard_normal(mu, logvar):
            return (mu.pow(2) + logvar.expm1() - logvar).sum(dim=-1)
        """),
    "KL without the -1": Mistake(
        "KL = 1/2 (mu^2 + sigma^2 - log sigma^2)", "peers",
        "vae_lite.objectives.kl_standard_normal", """
        def kl_standard_normal(mu, logvar):
            return 0.5 * (mu.pow(2) + logvar.exp() - logvar).sum(dim=-1)
        """),
    "sigma for sigma^2 in the KL": Mistake(
        "KL = 1/2 (mu^2 + sigma - log sigma - 1)", "write-up 3",
        "vae_lite.objectives.kl_standard_normal", """
        def kl_standard_normal(mu, logvar):
            return 0.5 * (mu.pow(2) + (0.5 * logvar).exp() - 0.5 * logvar - 1).sum(dim=-1)
        """),
    "log sigma^2 taken for sigma": Mistake(
        "the encoder's log sigma^2 used as sigma: z = mu + logvar * eps", "keras #3283",
        "vae_lite.objectives.reparameterize", """
        def reparameterize(mu, logvar, generator=None):
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            return mu + logvar * eps
        """),
    "IW estimate without -log k": Mistake(
        "the importance-weighted estimate as the log of the weights' sum, not of their mean (no - log k)", "peers",
        "vae_lite.objectives.iw_log_likelihood", """
        def iw_log_likelihood(model, x, k=5000, batch_size=None, max_elements=2**23, generator=None, y=None):
            x = torch.as_tensor(x)
            with torch.inference_mode():
                return torch.logsumexp(log_weights(model, x, k, generator, y), dim=0)
        """),
    "baseline from the sample itself": Mistake(
        "a score-function baseline that depends on the sample's own z (b = f(z)): no longer unbiased", "peers",
        "vae_lite.gradients.leave_one_out_mean", """
        def leave_one_out_mean(values, dim):
            return values
        """),
    "sample() instead of rsample()": Mistake(
        "z drawn so that no gradient reaches mu and sigma", "peers",
        "vae_lite.objectives.reparameterize", """
        def reparameterize(mu, logvar, generator=None):
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            return (mu + torch.exp(0.5 * logvar) * eps).detach()
        """),
    # notebook 10
    "IW bound without - log k": Mistake(
        "L_k as the log of the sum of the k weights instead of their mean", "IWAE implementations (Burda et al. eq. 8)",
        "vae_lite.objectives.iw_bound", """
        def iw_bound(log_w):
            return torch.logsumexp(log_w, dim=0)
        """),
    "linear VAE ELBO without q's spread": Mistake(
        "E_q||x - W z - b||^2 taken as ||x - W mu - b||^2: the spread of z under q forgotten", "Lucas et al. 2019, eq. (6)",
        "vae_lite.objectives.linear_vae_elbo", """
        def linear_vae_elbo(x, W, b, V, c, logvar, noise_variance):
            mu = (x - b) @ V.T + c
            squared_error = (x - mu @ W.T - b).pow(2).sum(dim=-1)
            reconstruction = -0.5 * x.shape[-1] * (LOG_2PI + math.log(noise_variance)) - squared_error / (2 * noise_variance)
            return reconstruction - kl_standard_normal(mu, logvar.expand_as(mu))
        """),
    "label as a number": Mistake(
        "the class fed as one number y instead of a one-hot vector", "notebook 11's common mistake",
        "vae_lite.variants.ConditionalVAE.one_hot", """
        def one_hot(self, y, batch_shape):
            number = torch.zeros(*batch_shape, self.num_classes, device=self.device)
            number[..., 0] = torch.as_tensor(y, device=self.device).float()
            return number
        """),
}

CATCHES = [
    Catch("reconstruction averaged over pixels", "01_autoencoder", "assert torch.allclose(loss, by_hand",
          r"averaged over pixels instead of summed"),
    # on other data 02 trains its own small VAE, and with these mistakes that training may blow up first
    Catch("loss with -KL", "02_elbo", "elbo_encoder <= log_px_reference", r"ELBO above log p\(x\)", mnist_only=True),
    Catch("KL averaged over dimensions", "02_elbo", "kl_to_prior = vae_lite.kl_standard_normal",
          r"is the KL summed over the latent dimensions", mnist_only=True),
    Catch("N(0, I) as the posterior", "02_elbo", "mean_torch, logvar_torch =", r"N\(0, 1\) is the prior"),
    Catch("log x for log p(x)", "02_elbo", "mean_torch, logvar_torch =", r"the left side is log p\(x\), not log x"),
    Catch("squared error for the Gaussian log-likelihood", "02_elbo", "formula = -((x_pixels",
          r"bare squared error drops the scale"),
    Catch("sigma^2 for sigma when sampling", "03_reparameterization", "z_v = vae_lite.reparameterize",
          r"dz/dlogvar should be \(z - mu\)/2"),
    Catch("log sigma^2 taken for sigma", "03_reparameterization", "z_v = vae_lite.reparameterize",
          r"dz/dlogvar should be \(z - mu\)/2"),
    Catch("sample() instead of rsample()", "03_reparameterization", "z_v = vae_lite.reparameterize",
          r"no gradient reaches: sample\(\) instead of rsample\(\)"),
    Catch("baseline from the sample itself", "03_reparameterization", "by_dimension[d] = dict(zip(columns",
          r"with the baseline 'mean of others' the score function should still average to the exact gradient"),
    Catch("KL without the 1/2", "04_closed_form_kl", "rows.append(", r"it has the factor 1/2 forgotten"),
    Catch("KL without the -1", "04_closed_form_kl", "rows.append(", r"it has the -1 forgotten"),
    Catch("sigma for sigma^2 in the KL", "04_closed_form_kl", "rows.append(", r"it has sigma where sigma\^2 belongs"),
    Catch("KL averaged over dimensions", "04_closed_form_kl", "by_sympy = sum(",
          r"averages over the dimensions instead of summing"),
    # 06 loads 05's model first; on other data it trains it, and with the wrong sign that training blows up
    Catch("loss with -KL", "06_loss_right_and_wrong", "right = train_steps(right_model, SIGN_STEPS)",
          r"the loss should be reconstruction error PLUS the KL", mnist_only=True),
    Catch("sigma^2 for sigma when sampling", "06_loss_right_and_wrong", "for c in (1, 2, 4, 8):",
          r"leave every reconstruction unchanged, if z = μ \+ σ ε uses σ, not σ²", mnist_only=True),
    Catch("reconstruction averaged over pixels", "06_loss_right_and_wrong", 'assert right_run["kl"] > 1',
          r"both terms summed should carry information", mnist_only=True),
    Catch("squared error for the Gaussian log-likelihood", "06_loss_right_and_wrong", "gaussian_kl = {}",
          r"a larger s should leave much less information in the code", mnist_only=True),
    Catch("KL without the 1/2", "07_latent_space", "by_hand = 0.5 * (mu.pow(2)", r"check kl_standard_normal's formula"),
    Catch("KL without the -1", "07_latent_space", "by_hand = 0.5 * (mu.pow(2)", r"check kl_standard_normal's formula"),
    Catch("KL averaged over dimensions", "07_latent_space", "assert abs(kl.sum().item() - test",
          r"summed \(not averaged\) over d"),
    Catch("sigma^2 for sigma when sampling", "07_latent_space", "samples = vae_lite.reparameterize(mu[0]",
          r"needs σ = exp\(logvar / 2\), not σ²"),
    Catch("log sigma^2 taken for sigma", "07_latent_space", "samples = vae_lite.reparameterize(mu[0]",
          r"should be the variance σ² = exp\(logvar\)"),
    Catch("IW estimate without -log k", "08_how_good", "yours = iw_estimate(log_px_given_z, z, mu, logvar)",
          r"with the − log k"),
    Catch("IW bound without - log k", "10_loose_bound", "stuck, closed = log_px", r"L_k is a lower bound on log p\(x\)"),
    Catch("linear VAE ELBO without q's spread", "10_loose_bound", "elbo_fit = objectives.linear_vae_elbo",
          r"should match pPCA's closed form"),
    # the wrong label (the next class) is a larger number, so it still scores lower: the classifier catches it
    Catch("label as a number", "11_conditional_vae", "accuracy = (elbo_per_class.argmax(dim=1)",
          r"the ELBO with the true label should usually be the largest"),
]

STARTUP = """
import importlib
import linecache

def _inject(target, code):
    parts = target.split(".")
    for split in range(len(parts) - 1, 0, -1):  # the longest importable module prefix
        try:
            owner = module = importlib.import_module(".".join(parts[:split]))
            break
        except ImportError:
            continue
    for name in parts[split:-1]:
        owner = getattr(owner, name)
    original = getattr(owner, parts[-1])
    namespace = dict(vars(module))
    filename = "<injected mistake: " + target + ">"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)  # inspect.getsource shows it
    exec(compile(code, filename, "exec"), namespace)
    original.__code__ = namespace[parts[-1]].__code__

_inject({target!r}, {code!r})
del _inject
"""


def resolve(target):
    """The function a Mistake replaces, imported in this process."""
    import importlib

    parts = target.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:split]))
            break
        except ImportError:
            continue
    for name in parts[split:]:
        owner = getattr(owner, name)
    return owner


def run_until_error(notebook, mistake, ipython_dir, stop_at=None):
    """Run the notebook's twin with the mistake injected; return (cell index, ename, evalue) of the
    first error, or None if cells up to `stop_at` (or all) ran cleanly."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    startup = Path(ipython_dir) / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-mistake.py").write_text(STARTUP.format(target=mistake.target, code=textwrap.dedent(mistake.code)))
    nb = jupytext.read(NOTEBOOKS / f"{notebook}.py")
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as error:
                return index, error.ename, error.evalue
            if index == stop_at:
                return None
    return None


@pytest.fixture
def kernel_env(monkeypatch, tmp_path):
    """The kernel's environment: quick mode, no figures rendered, MNIST when it is on disk."""
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("VAE_LITE_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    if mnist_available():
        monkeypatch.setenv("VAE_LITE_DATASET", "mnist")
    return tmp_path / "ipython"


def catching_cell(catch):
    nb = jupytext.read(NOTEBOOKS / f"{catch.notebook}.py")
    found = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and catch.cell in c.source]
    assert len(found) == 1, f"{catch.notebook}: {len(found)} code cells contain {catch.cell!r}; the row needs exactly one"
    return found[0]


@pytest.mark.parametrize("name, mistake", MISTAKES.items(), ids=list(MISTAKES))
def test_each_mistake_replaces_a_function_with_the_same_parameters(name, mistake):
    import inspect

    original = resolve(mistake.target)
    namespace = dict(vars(inspect.getmodule(original)))
    exec(textwrap.dedent(mistake.code), namespace)
    wrong = namespace[mistake.target.split(".")[-1]]
    assert inspect.signature(wrong) == inspect.signature(original), f"{name}: the def must keep {mistake.target}'s parameters"
    assert wrong.__code__.co_freevars == original.__code__.co_freevars, f"{name}: closures differ; __code__ cannot be swapped"


def test_every_row_names_a_known_mistake_and_one_cell():
    assert CATCHES and {c.mistake for c in CATCHES} <= set(MISTAKES)
    for catch in CATCHES:
        catching_cell(catch)


@pytest.mark.slow
@pytest.mark.parametrize("catch", CATCHES, ids=[f"{c.notebook[:2]}: {c.mistake}" for c in CATCHES])
def test_notebook_catches_the_injected_mistake(catch, kernel_env):
    if catch.mnist_only and not mnist_available():
        pytest.skip("this catch needs MNIST (set VAE_LITE_DATA)")
    index = catching_cell(catch)
    error = run_until_error(catch.notebook, MISTAKES[catch.mistake], kernel_env, stop_at=index)
    assert error is not None, f"{catch.notebook} ran to cell {index} with '{catch.mistake}' injected: nothing caught it"
    cell, ename, evalue = error
    assert cell == index, f"{catch.notebook}: cell {cell} failed ({ename}: {evalue[:300]}) before cell {index}, the catching one"
    assert ename == "AssertionError", f"{catch.notebook} cell {index} crashed with {ename}: {evalue[:300]}; it should assert"
    assert re.search(catch.message, evalue), f"{catch.notebook} cell {index}: message {evalue!r} does not match {catch.message!r}"


@pytest.mark.skipif(os.environ.get("VAE_LITE_MISTAKES") != "all", reason="the full table: VAE_LITE_MISTAKES=all (slow)")
@pytest.mark.parametrize("notebook", ["01_autoencoder", "02_elbo", "03_reparameterization", "04_closed_form_kl"])
def test_mistake_table(notebook, kernel_env, tmp_path):
    """Every mistake against a whole notebook: which cell fails first, and how. Written to
    $VAE_LITE_MISTAKES_OUT (a JSON file) for the README table; informational, never fails."""
    table = {}
    for name, mistake in MISTAKES.items():
        ipython_dir = tmp_path / re.sub(r"\W+", "-", name)
        error = run_until_error(notebook, mistake, ipython_dir)
        table[name] = None if error is None else {"cell": error[0], "error": error[1], "message": error[2][:200]}
    out = Path(os.environ.get("VAE_LITE_MISTAKES_OUT", tmp_path / "table.json"))
    existing = json.loads(out.read_text()) if out.exists() else {}
    existing[notebook] = table
    out.write_text(json.dumps(existing, indent=1))
