"""python -m vae_lite: train and evaluate from the shell, with messages instead of tracebacks."""

import subprocess
import sys

import pytest

import vae_lite


def run(*args):
    return subprocess.run([sys.executable, "-m", "vae_lite", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # a new Python process that imports torch
def test_train_then_evaluate_from_the_shell(tmp_path):
    out = tmp_path / "model.pt"
    trained = run("train", "--dataset", "digits", "--epochs", "2", "--latent-dim", "3", "--hidden", "32",
                  "--quiet", "--out", str(out))
    assert trained.returncode == 0, trained.stderr
    assert "test negative ELBO:" in trained.stdout and out.is_file()
    model = vae_lite.load(out)
    assert model.latent_dim == 3 and model.checkpoint_extra["epochs"] == 2
    evaluated = run("evaluate", str(out), "--dataset", "digits", "--k", "50", "--limit", "40")
    assert evaluated.returncode == 0, evaluated.stderr
    numbers = [float(line.split()[-4]) for line in evaluated.stdout.splitlines() if "nats per image" in line]
    nelbo, iw_nll = numbers
    assert iw_nll <= nelbo + 0.5, evaluated.stdout  # the IW bound is at least as tight, up to noise


@pytest.mark.slow  # a new Python process that imports torch
def test_bad_arguments_give_a_message_not_a_traceback(tmp_path):
    result = run("train", "--dataset", "digits", "--latent-dim", "0", "--quiet")
    assert result.returncode == 2
    assert "latent_dim must be a positive int" in result.stderr and "Traceback" not in result.stderr
    missing = run("evaluate", str(tmp_path / "none.pt"), "--dataset", "digits")
    assert missing.returncode != 0 and "no checkpoint at" in missing.stderr and "Traceback" not in missing.stderr
