"""The notebooks' checks can fail: each common mistake (tools/mistakes.py), injected into vae_lite
inside a notebook's kernel, trips an assert whose message names what is wrong (an AssertionError,
not a crash).

How a row runs: the notebook's text twin runs in quick mode with the mistake injected, cell by
cell, and stops at the first error. That error must be an AssertionError raised by the cell
the row names, with a message matching the row's pattern. Cells after it never run, so a row
costs only the notebook up to its catching cell. The rows share one kernel: after each row the kernel
is cleared and the function gets its code back, which spares a kernel start and the imports per row
(tools/mistakes.py's MistakeKernel; a test below checks the clearing).

Adding rows (notebooks 05-11): put a new Mistake in tools/mistakes.py's MISTAKES (a def with the
same name and parameters as the target, doing the wrong thing; the target module's globals are
available), then a Catch here naming the notebook, a line of the catching cell and a regex for its
message. One Catch per notebook that should catch the mistake; keep it to the cheapest notebook
when several do (`python tools/mistakes.py` reports which cell of each notebook fails first).
"""

import re
import textwrap
from dataclasses import dataclass

import jupytext
import pytest
from conftest import mnist_available
from kernel import healthy_kernels
from mistakes import MISTAKES, NOTEBOOKS, MistakeKernel, resolve


@dataclass(frozen=True)
class Catch:
    mistake: str  # a key of MISTAKES
    notebook: str  # the twin's name without .py
    cell: str  # a line of the catching cell (unique among the notebook's code cells)
    message: str  # a regex the AssertionError's message must match
    mnist_only: bool = False  # the catch relies on MNIST's numbers (a shipped model, published values)


CATCHES = [
    Catch("reconstruction averaged over pixels", "01_autoencoder", "assert torch.allclose(loss, by_hand",
          r"averaged over pixels instead of summed"),
    # on other data 02 trains notebook 05's VAE itself, and with these mistakes that training may blow up first
    Catch("loss with -KL", "02_elbo", "abs(elbo_encoder - elbo_full) < tolerance",
          r"is the KL added instead of subtracted", mnist_only=True),
    Catch("KL averaged over dimensions", "02_elbo", "abs(elbo_encoder - elbo_full) < tolerance",
          r"averaged over the latent dimensions instead of summed", mnist_only=True),
    Catch("N(0, I) as the posterior", "02_elbo", "mean_torch, logvar_torch =", r"N\(0, 1\) is the prior"),
    Catch("log x for log p(x)", "02_elbo", "mean_torch, logvar_torch =", r"it should be log p\(x\), not, say, log x"),
    Catch("squared error for the Gaussian log-likelihood", "02_elbo", "formula = -((x_pixels",
          r"bare squared error drops the scale"),
    Catch("sigma^2 for sigma when sampling", "03_reparameterization", "assert check.reparameterize(vae_lite",
          r"vae_lite.reparameterize should pass the checker"),
    Catch("log sigma^2 taken for sigma", "03_reparameterization", "assert check.reparameterize(vae_lite",
          r"vae_lite.reparameterize should pass the checker"),
    Catch("sample() instead of rsample()", "03_reparameterization", "assert check.reparameterize(vae_lite",
          r"vae_lite.reparameterize should pass the checker"),
    Catch("baseline from the sample itself", "03_reparameterization", "gap = per_draw[b] - per_draw",
          r"with the baseline 'mean of others' the score function should still average to the pathwise gradient"),
    Catch("KL without the 1/2", "04_closed_form_kl", "rows.append(", r"it has the factor 1/2 forgotten"),
    Catch("KL without the -1", "04_closed_form_kl", "rows.append(", r"it has the -1 forgotten"),
    Catch("sigma for sigma^2 in the KL", "04_closed_form_kl", "rows.append(", r"it has sigma where sigma\^2 belongs"),
    Catch("KL averaged over dimensions", "04_closed_form_kl", "by_sympy = sum(",
          r"averages over the dimensions instead of summing"),
    # 06 loads 05's model first; on other data it trains it, and with the wrong sign that training blows up
    Catch("loss with -KL", "06_loss_right_and_wrong", 'assert min(right["loss"]) > 0',
          r"the loss should be reconstruction error PLUS the KL", mnist_only=True),
    Catch("sigma^2 for sigma when sampling", "06_loss_right_and_wrong", "for c in (1, 2, 4, 8):",
          r"leave every reconstruction unchanged, if z = μ \+ σ ε uses σ, not σ²", mnist_only=True),
    Catch("reconstruction averaged over pixels", "06_loss_right_and_wrong", 'assert right_run["kl"] > 1',
          r"both terms summed should carry information", mnist_only=True),
    Catch("squared error for the Gaussian log-likelihood", "06_loss_right_and_wrong",
          "assert gaussian_kl[1.0] < 0.25 * gaussian_kl[0.1]",
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
    Catch("label as a number", "11_conditional_vae", "onehot = cvae.one_hot(y, (4,))",
          r"the label should enter as a one-hot vector"),
]

@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A running kernel for the rows, in quick mode, no figures rendered, MNIST when it is on disk. The
    rows share it: each run undoes its mistake and clears the kernel (tools/mistakes.py's MistakeKernel);
    a kernel that died is replaced."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("IPYTHONDIR", str(tmp_path_factory.mktemp("ipython")))  # no startup files of the user's
        env.setenv("VAE_LITE_QUICK", "1")
        env.setenv("MPLBACKEND", "Agg")
        if mnist_available():
            env.setenv("VAE_LITE_DATASET", "mnist")
        with healthy_kernels(MistakeKernel) as kernel:
            yield kernel


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
def test_notebook_catches_the_injected_mistake(catch, kernel):
    if catch.mnist_only and not mnist_available():
        pytest.skip("this catch needs MNIST (set VAE_LITE_DATA)")
    index = catching_cell(catch)
    error = kernel().run_until_error(catch.notebook, MISTAKES[catch.mistake], stop_at=index)
    assert error is not None, f"{catch.notebook} ran to cell {index} with '{catch.mistake}' injected: nothing caught it"
    cell, ename, evalue = error
    assert cell == index, f"{catch.notebook}: cell {cell} failed ({ename}: {evalue[:300]}) before cell {index}, the catching one"
    assert ename == "AssertionError", f"{catch.notebook} cell {index} crashed with {ename}: {evalue[:300]}; it should assert"
    assert re.search(catch.message, evalue), f"{catch.notebook} cell {index}: message {evalue!r} does not match {catch.message!r}"


@pytest.mark.slow
def test_a_shared_kernel_runs_clean_after_a_caught_mistake(kernel):
    """What a row leaves behind must not reach the next: after 'KL without the -1' is caught, the same
    kernel runs notebook 04 to that catching cell again, with only a harmless injection (another
    function's own source), and nothing fails."""
    import inspect

    from mistakes import Mistake

    catch = next(c for c in CATCHES if c.notebook == "04_closed_form_kl" and c.mistake == "KL without the -1")
    index = catching_cell(catch)
    assert kernel().run_until_error(catch.notebook, MISTAKES[catch.mistake], stop_at=index)[0] == index
    other = "vae_lite.objectives.kl_normal"
    assert other != MISTAKES[catch.mistake].target
    harmless = Mistake("none", "this test", other, inspect.getsource(resolve(other)))
    assert kernel().run_until_error(catch.notebook, harmless, stop_at=index) is None, "the last row's mistake outlived its run"
