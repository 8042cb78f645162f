"""Common VAE mistakes, injected into vae_lite inside a notebook's kernel, and the report of what
each does to a whole notebook.

    python tools/mistakes.py [NOTEBOOK ...] [--out mistakes.json]   # default: notebooks 01-04

A mistake replaces the *code* of one function of vae_lite (function.__code__ = ...), so every
name bound to that function sees it: vae_lite.elbo, vae_lite.objectives.elbo and the elbo
that models.py imported are one function object. The package itself has no test hooks.
The mistake is injected into a running kernel; the notebook's text twin then runs in quick mode,
cell by cell, and stops at the first error; then the kernel is cleared and the function gets its code
back, ready for the next mistake (MistakeKernel, on tools/kernel.py's Kernel).

The report runs every mistake against every cell of the notebooks given and writes, per notebook
and mistake, the first cell that fails and how (null: nothing failed). It informs where a new
catch belongs; tests/test_mistakes.py holds the catches that must fire, each at its own cell.
"""

import argparse
import json
import os
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import jupytext
from kernel import Kernel

from vae_lite._files import atomic_write

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


@dataclass(frozen=True)
class Mistake:
    says: str  # the mistake in words
    source: str  # where it comes from: the write-up's list (TEACHING.md) or the peers' trackers
    target: str  # dotted path of the function whose code is replaced
    code: str  # a def with the target's name and parameters that makes the mistake


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

INJECT = """
import importlib
import linecache
import sys

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
    sys._vae_lite_mistake = original, original.__code__  # outside the user's names, which %reset clears
    original.__code__ = namespace[parts[-1]].__code__

_inject({target!r}, {code!r})
del _inject
"""

# After a run (and tools/kernel.py's CLEAR): the function gets its own code back.
RESTORE = """
def _restore():
    import sys

    function, code = sys._vae_lite_mistake
    function.__code__ = code
    del sys._vae_lite_mistake

_restore()
del _restore
"""


class MistakeKernel(Kernel):
    """One kernel for many runs of the notebooks' twins, each with one mistake injected.

    A run injects the mistake, runs the notebook's cells in order until the first error (or `stop_at`),
    then clears everything the run left (tools/kernel.py) and restores the function, so that the next
    run starts from what a fresh kernel would have, without paying again for a kernel's start and its
    imports.

        with MistakeKernel() as kernel:
            kernel.run_until_error("04_closed_form_kl", MISTAKES["KL without the -1"], stop_at=12)
    """

    def __init__(self):
        super().__init__(NOTEBOOKS, figures=False)  # a row looks for an error, not at the figures

    def run_until_error(self, notebook, mistake, stop_at=None):
        """(cell index, ename, evalue) of the first error in `notebook` (a twin's name without .py) with
        `mistake` injected, or None if the cells up to `stop_at` (or all) ran cleanly. The run's
        VAE_LITE_* variables are this process's."""
        from nbclient.exceptions import CellExecutionError

        nb = jupytext.read(NOTEBOOKS / f"{notebook}.py")
        env = {k: v for k, v in os.environ.items() if k.startswith("VAE_LITE_")}
        try:
            self.run_code(INJECT.format(target=mistake.target, code=textwrap.dedent(mistake.code)))
            try:
                self.run(nb, env, NOTEBOOKS, stop_at=stop_at)
                return None
            except CellExecutionError as error:
                return error.cell_index, error.ename, error.evalue
            finally:
                self.run_code(RESTORE)
        except Exception:
            self.healthy = False  # the injection or the restore failed: this kernel is not to be reused
            raise


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


def report(notebooks):
    """{notebook: {mistake: {"cell", "error", "message"} of the first failing cell, or None}}."""
    import vae_lite

    os.environ.update(VAE_LITE_QUICK="1", MPLBACKEND="Agg")
    if vae_lite.data.find_files("mnist") is not None:
        os.environ["VAE_LITE_DATASET"] = "mnist"
    table = {}
    with tempfile.TemporaryDirectory() as ipython_dir:
        os.environ["IPYTHONDIR"] = ipython_dir  # a profile of its own: no startup files of the user's
        with MistakeKernel() as kernel:
            for notebook in notebooks:
                table[notebook] = {}
                for name, mistake in MISTAKES.items():
                    error = kernel.run_until_error(notebook, mistake)
                    table[notebook][name] = None if error is None else dict(cell=error[0], error=error[1], message=error[2][:200])
                    print(f"{notebook} | {name}: {'runs through' if error is None else f'cell {error[0]}, {error[1]}'}", flush=True)
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*",
                        default=["01_autoencoder", "02_elbo", "03_reparameterization", "04_closed_form_kl"])
    parser.add_argument("--out", default="mistakes.json")
    args = parser.parse_args(argv)
    unknown = [n for n in args.notebooks if not (NOTEBOOKS / f"{n}.py").exists()]
    if unknown:
        sys.exit(f"no notebook {unknown}: give names as in notebooks/, e.g. 02_elbo")
    out = Path(args.out)
    text = json.dumps(report(args.notebooks), indent=1)
    atomic_write(out, lambda f: f.write(text.encode()))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
