"""fit and train_step: training that learns, cannot start, blows up, is stopped, must be
reproducible; the device it runs on; labels for a conditional model."""

import json
import os
import signal
import time

import pytest
import torch

import vae_lite
from conftest import random_images, same_weights, start_child, tiny_vae, weights
from vae_lite import VAE, Autoencoder, TrainingError, fit, pick_device

pytestmark = pytest.mark.usefixtures("one_thread")


def without_seconds(history):
    """The History's records without their timings, which differ from run to run."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history.records]


def test_fit_lowers_the_test_loss_of_a_vae_on_digits(digits):
    model = VAE(digits.image_shape, latent_dim=4, hidden=64)
    before = vae_lite.evaluate(model, vae_lite.binarized_test_set(digits))
    history = fit(model, digits, epochs=8, batch_size=64, progress=False)
    assert len(history) == 8 and not history.interrupted
    assert history.last["test_loss"] < before["loss"] - 5, (before["loss"], history["test_loss"])
    assert history["test_elbo"][-1] > history["test_elbo"][0]
    for key in ("train_elbo", "train_reconstruction", "train_kl", "test_reconstruction", "test_kl", "seconds"):
        assert len(history[key]) == 8
    torch.testing.assert_close(
        torch.tensor(history["test_elbo"]), torch.tensor(history["test_reconstruction"]) - torch.tensor(history["test_kl"])
    )


def test_fit_trains_an_autoencoder_and_refuses_a_kl_weight_for_it(digits):
    model = Autoencoder(digits.image_shape, latent_dim=4, hidden=64)
    history = fit(model, digits, epochs=3, batch_size=64, progress=False)
    assert "test_kl" not in history.last
    assert history["test_loss"][-1] < history["test_loss"][0]
    with pytest.raises(ValueError, match="an Autoencoder has none; leave beta at 1"):
        fit(model, digits, epochs=1, beta=4.0, progress=False)


@pytest.mark.parametrize("make", [lambda shape: VAE(shape, latent_dim=4, hidden=32),
                                  lambda shape: Autoencoder(shape, latent_dim=4, hidden=32)])
def test_train_step_takes_one_step_on_the_mean_loss_and_returns_its_terms(make, digits):
    model = make(digits.image_shape)
    x = vae_lite.binarized_test_set(digits)[:32]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    before = [p.detach().clone() for p in model.parameters()]
    torch.manual_seed(0)
    loss, terms = model.loss(x, beta=2.0) if isinstance(model, VAE) else model.loss(x)
    loss.mean().backward()
    expected = [p - 0.01 * p.grad for p in model.parameters()]  # what one SGD step on that loss gives
    torch.manual_seed(0)
    means = vae_lite.train_step(model, x, optimizer, beta=2.0)
    for new, old, wanted in zip(model.parameters(), before, expected):
        assert not torch.equal(new, old)
        torch.testing.assert_close(new.detach(), wanted.detach())
    assert means["loss"] == pytest.approx(loss.mean().item(), rel=1e-6)
    if isinstance(model, VAE):
        assert set(means) == {"loss", "reconstruction", "kl", "elbo"}
        assert means["elbo"] == pytest.approx(means["reconstruction"] - means["kl"], rel=1e-6)
    else:
        assert set(means) == {"loss", "reconstruction"}


# ------------------------------------------------------------------ arguments that cannot work

@pytest.mark.parametrize("model_shape, arguments, words", [
    ((1, 8, 8), {}, ["the model expects images of shape (1, 8, 8) but the data's are (1, 6, 6)",
                     "image_shape=data.image_shape"]),
    ((1, 6, 6), {"batch_size": 65}, ["batch_size must be between 1 and the 64 training images", "got 65"]),
    ((1, 6, 6), {"batch_size": 0}, ["batch_size must be between 1"]),
    ((1, 6, 6), {"device": "gpu"}, ["unknown device 'gpu'", "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"]),
    ((1, 6, 6), {"device": "cuda"}, ["device 'cuda' was asked for but is not available here; use device='auto'"]),
    ((1, 6, 6), {"epochs": 0}, ["epochs must be a positive int"]),
    ((1, 6, 6), {"lr": float("nan")}, ["lr must be a positive number"]),
    ((1, 6, 6), {"beta": -1.0}, ["beta must be a non-negative number"]),
    ((1, 6, 6), {"schedule": "cosine"}, ["schedule must be 'constant' or 'onecycle'", "'cosine'"]),
    ((1, 6, 6), {"warmup": 3}, ["warmup is the number of epochs", "between 0 and epochs=1", "got 3"]),
])
def test_fit_refuses_arguments_that_cannot_work_before_training(model_shape, arguments, words, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model = tiny_vae(model_shape)
    before = weights(model)
    calls = []
    model.loss = lambda *a, **k: calls.append(1)  # any training would call this
    with pytest.raises(ValueError) as error:
        fit(model, random_images(), **{"epochs": 1, "batch_size": 16, "progress": False, **arguments})
    for word in words:
        assert word in str(error.value)
    assert calls == [] and same_weights(model, before)


# ------------------------------------------------------------------ the default recipe: schedule and warm-up

class Recording(vae_lite.VAE):
    """A VAE that records the KL weight of every training step."""

    betas = None

    def loss(self, x, beta=1.0):
        if torch.is_grad_enabled():
            self.betas.append(beta)
        return super().loss(x, beta)


def test_warmup_raises_the_kl_weight_linearly_from_0_to_beta_then_holds_it():
    torch.manual_seed(0)
    model = Recording((1, 6, 6), latent_dim=2, hidden=8)
    model.betas = []
    fit(model, random_images(), epochs=4, batch_size=16, beta=2.0, warmup=2, progress=False)  # 4 steps per epoch
    assert model.betas[:8] == pytest.approx([2.0 * step / 8 for step in range(8)])
    assert model.betas[8:] == [2.0] * 8


def test_onecycle_rises_to_lr_then_falls_to_almost_nothing(monkeypatch):
    seen = []
    real_step = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **k: seen.append(self.param_groups[0]["lr"])
                        or real_step(self, *a, **k))
    fit(tiny_vae(), random_images(), epochs=5, batch_size=16, lr=0.01, schedule="onecycle", progress=False)
    peak = seen.index(max(seen))
    assert len(seen) == 20 and seen[0] == pytest.approx(0.01 / 25) and max(seen) == pytest.approx(0.01, rel=0.02)
    assert 0.2 * len(seen) <= peak <= 0.4 * len(seen) and seen[-1] < 1e-4
    assert all(a <= b for a, b in zip(seen[:peak], seen[1:peak + 1])) and all(
        a >= b for a, b in zip(seen[peak:], seen[peak + 1:]))


def test_start_at_mean_image_sets_the_output_bias_to_the_logit_of_the_mean():
    images = torch.rand(50, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * torch.linspace(0.05, 0.95, 8)
    mlp = vae_lite.VAE((1, 8, 8), latent_dim=3, hidden=16).start_at_mean_image(images)
    torch.testing.assert_close(torch.sigmoid(mlp.decoder.net[-1].bias), images.mean(0).flatten())  # pixel by pixel
    conv = vae_lite.VAE((1, 8, 8), latent_dim=3, hidden=16, arch="conv").start_at_mean_image(images)
    torch.testing.assert_close(torch.sigmoid(conv.decoder.up2.bias), images.mean().reshape(1))  # one per channel


# ------------------------------------------------------------------ NaN and infinite losses

class Faulty(vae_lite.VAE):
    """A VAE whose training loss misbehaves at training step `at` (counted from 1 over all epochs).

    It records the weights it sees at the start of that step: the weights of the last
    completed step, which the model must still hold after fit stops.
    """

    def __init__(self, *args, at, fault, **kwargs):
        super().__init__(*args, **kwargs)
        self.at, self.fault, self.steps, self.weights_before_fault = at, fault, 0, None

    def loss(self, x, beta=1.0):
        loss, terms = super().loss(x, beta)
        if torch.is_grad_enabled():  # a training step, not an evaluation
            self.steps += 1
            if self.steps == self.at:
                self.weights_before_fault = weights(self)
                if self.fault == "interrupt":
                    raise KeyboardInterrupt
                loss = loss * float(self.fault)  # nan or inf
        return loss, terms


def faulty(at, fault):
    torch.manual_seed(0)
    return Faulty((1, 6, 6), latent_dim=2, hidden=8, at=at, fault=fault)


@pytest.mark.parametrize("fault", ["nan", "inf"])
def test_a_nan_or_infinite_loss_stops_training_and_keeps_the_last_good_weights(fault):
    model = faulty(at=6, fault=fault)  # 64 images in batches of 16: 4 steps per epoch, so epoch 2 step 2
    with pytest.raises(TrainingError) as error:
        fit(model, random_images(), epochs=3, batch_size=16, progress=False, device="cpu")
    message = str(error.value)
    assert message.startswith(f"epoch 2, step 2/4: the loss became {fault};")
    assert "keeps the weights from before this step" in message and "learning rate too high" in message
    assert same_weights(model, model.weights_before_fault)
    assert len(error.value.history) == 1 and error.value.history.last["epoch"] == 1


def test_a_learning_rate_far_too_high_is_caught_with_finite_last_good_weights(digits):
    """The real thing: Gaussian decoder with a learned variance and lr=1 diverges at once."""
    model = tiny_vae(digits.image_shape, likelihood="gaussian", gaussian_std=None)
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0)
    after_each_step = []
    optimizer.register_step_post_hook(lambda *args: after_each_step.append(weights(model)))
    with pytest.raises(TrainingError) as error:
        fit(model, digits, epochs=2, batch_size=100, lr=1.0, optimizer=optimizer, progress=False, device="cpu")
    assert str(error.value).startswith("epoch 1, step") and "try 0.1" in str(error.value)
    assert len(after_each_step) >= 1 and same_weights(model, after_each_step[-1])
    assert all(torch.isfinite(v).all() for v in weights(model).values())


# ------------------------------------------------------------------ stopping with Ctrl-C / Jupyter's stop button

def test_keyboard_interrupt_returns_the_history_so_far_and_prints_one_line(capsys):
    model = faulty(at=7, fault="interrupt")  # epoch 2, step 3 of 4
    history = fit(model, random_images(), epochs=5, batch_size=16, progress=False, device="cpu")
    assert history.interrupted and len(history) == 1 and history.last["epoch"] == 1
    assert same_weights(model, model.weights_before_fault)
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "Training stopped at epoch 2, step 3/4: the model keeps the weights of the last completed step; "
        "the History holds 1 complete epoch(s)."]
    assert "Traceback" not in out + err


def test_keyboard_interrupt_before_the_first_step(monkeypatch, capsys):
    """Stop pressed while the first epoch is being set up: nothing trained, still no traceback."""
    model = tiny_vae()
    before = weights(model)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "randperm", interrupted)
    history = fit(model, random_images(), epochs=2, batch_size=16, progress=False, device="cpu")
    monkeypatch.undo()
    assert history.interrupted and len(history) == 0 and same_weights(model, before)
    out, _ = capsys.readouterr()
    assert len(out.splitlines()) == 1 and out.startswith("Training stopped at epoch 1")


def fit_until_interrupted(sender):
    """(Run in a child process.) Train until a SIGINT arrives; print what fit returned as JSON
    on the last line.

    sender="parent": the parent sends SIGINT when we print "training". Each completed optimizer
    step is recorded by a step hook that first sleeps a little, so the signal most likely
    arrives *inside* optimizer.step(), where an unprotected interrupt would leave weights that
    no completed step produced.
    sender="self": at step 5 the hook sends SIGINT to its own process from inside
    optimizer.step(), so that moment is hit every time.
    """
    torch.set_num_threads(1)
    # As in a Jupyter kernel: SIGINT raises KeyboardInterrupt, even if whoever started the tests
    # ignores it (a shell's background job does, and we would inherit that).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    model = tiny_vae()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    completed = []

    def after_step(opt, args, kwargs):
        if sender == "self" and len(completed) == 4:
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.02)
        completed.append(weights(model))
        if len(completed) == 3:
            print("training", flush=True)

    optimizer.register_step_post_hook(after_step)
    history = fit(model, random_images(n_train=256), epochs=100_000, batch_size=32, progress=False,
                  device="cpu", optimizer=optimizer)
    print(json.dumps({"interrupted": history.interrupted, "epochs": len(history), "steps": len(completed),
                      "weights_of_last_completed_step": same_weights(model, completed[-1])}))


def first_line(stream):
    """One line of a child's output, read without reading ahead: communicate() reads the pipe
    itself and would never see what a buffered readline() had taken beyond the line."""
    line = b""
    while not line.endswith(b"\n") and (byte := os.read(stream.fileno(), 1)):
        line += byte
    return line.decode()


@pytest.mark.slow  # a new Python process that imports torch
@pytest.mark.parametrize("sender", ["parent", "self"])
def test_a_real_sigint_during_training_returns_the_history(sender):
    """A real SIGINT, as Jupyter's stop button sends, to a process in the middle of fit:
    from outside at a moment of the OS's choosing, and from inside optimizer.step()."""
    child = start_child(fit_until_interrupted, sender)
    try:
        assert first_line(child.stdout) == "training\n", child.stderr.read()
        if sender == "parent":
            os.kill(child.pid, signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    lines = out.strip().splitlines()
    assert child.returncode == 0 and "Traceback" not in err, err
    assert len(lines) == 2 and lines[0].startswith("Training stopped at epoch "), lines
    report = json.loads(lines[1])
    assert report["interrupted"] and report["steps"] >= 3
    if sender == "self":
        assert report["steps"] == 5, "the step during which SIGINT arrived should complete"
        assert lines[0].startswith("Training stopped at epoch 1, step 5/8:") and report["epochs"] == 0
    assert report["weights_of_last_completed_step"], "the interrupt left weights that no completed step produced"


def test_an_ignored_sigint_stays_ignored_during_an_optimizer_step():
    """fit defers Ctrl-C only where it would raise; a process that ignores SIGINT keeps ignoring it."""
    from vae_lite import support

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with support.finish_before_interrupt():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)


# ------------------------------------------------------------------ reproducibility

def test_the_same_seed_gives_the_same_history_and_weights_on_cpu():
    data = random_images()

    def run(seed):
        model = tiny_vae(data.image_shape)
        history = fit(model, data, epochs=2, batch_size=16, seed=seed, progress=False, device="cpu")
        return without_seconds(history), weights(model)

    (h1, w1), (h2, w2), (h3, w3) = run(7), run(7), run(8)
    assert h1 == h2 and same_weights(w1, w2)
    assert h1 != h3 and not same_weights(w1, w3)  # the seed does matter, so the check above can fail


def fit_with_threads(threads):
    """(Run in a child process.) Short seeded fits of an MLP and a conv VAE with this many
    threads; print their History and weights as JSON."""
    torch.set_num_threads(int(threads))
    # MNIST-sized images and the notebooks' 784-400-20 MLP, so the matrix products are large
    # enough to be split between threads (random pixels: no data files needed)
    data = random_images(n_train=128, n_test=32, shape=(28, 28))
    out = {"threads": torch.get_num_threads()}
    for arch, hidden in (("mlp", 400), ("conv", 32)):
        torch.manual_seed(0)
        model = VAE(data.image_shape, latent_dim=20, hidden=hidden, arch=arch)
        history = fit(model, data, epochs=2, batch_size=64, progress=False, device="cpu", seed=3)
        out[arch] = {"history": without_seconds(history),
                     "weights": {k: v.flatten().tolist() for k, v in model.state_dict().items()}}
    print(json.dumps(out))


@pytest.mark.slow  # a new Python process that imports torch
def test_results_agree_with_one_and_two_threads():
    """The same short fits in two processes, one with 1 thread and one with 2.

    Measured on our 2-core machine (MNIST-sized images, 4 Adam steps): the 784-400-20 MLP
    VAE agrees bit for bit; the conv VAE's losses differ by about 1e-4 nats, because a
    multithreaded convolution adds its terms in another order, and some of its weights by
    up to 1.2e-3: Adam moves every weight by about lr per step whatever the size of its
    gradient, so a weight whose gradient is nearly 0 can go either way. Notebooks print
    losses rounded to 2 decimals, so that is the precision required of the History.
    """
    children = [start_child(fit_with_threads, n) for n in (1, 2)]
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    one, two = results
    assert (one["threads"], two["threads"]) == (1, 2)
    for arch in ("mlp", "conv"):
        for r1, r2 in zip(one[arch]["history"], two[arch]["history"], strict=True):
            assert r1.keys() == r2.keys()
            for key in r1:
                assert abs(r1[key] - r2[key]) < 0.005, (arch, key, r1[key], r2[key])
        steps, lr = 4, 1e-3
        for name in one[arch]["weights"]:
            torch.testing.assert_close(torch.tensor(one[arch]["weights"][name]),
                                       torch.tensor(two[arch]["weights"][name]), rtol=0, atol=2 * lr * steps)


# ------------------------------------------------------------------ devices

class TestPickDevice:
    def test_prefers_cuda_then_mps_then_cpu(self, monkeypatch):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
        assert pick_device().type == "cuda"
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        assert pick_device().type == "mps"
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
        assert pick_device().type == "cpu"

    def test_the_environment_variable_replaces_auto_but_an_explicit_device_wins(self, monkeypatch):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setenv("VAE_LITE_DEVICE", "cpu")
        assert pick_device() == pick_device("auto") == torch.device("cpu")
        assert pick_device("cuda") == torch.device("cuda")
        with pytest.raises(ValueError, match="unknown device 'gpu'; use 'auto'"):
            pick_device("gpu")  # the variable does not hide a wrong argument

    def test_a_wrong_environment_variable_is_named_in_the_error(self, monkeypatch):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        monkeypatch.setenv("VAE_LITE_DEVICE", "gpu")
        with pytest.raises(ValueError, match="unknown device 'gpu' \\(by the environment variable VAE_LITE_DEVICE\\)"):
            pick_device()
        monkeypatch.setenv("VAE_LITE_DEVICE", "cuda")
        with pytest.raises(ValueError, match="VAE_LITE_DEVICE.*not available here; set VAE_LITE_DEVICE=auto, or unset it"):
            pick_device()

    def test_a_notebook_trains_on_the_cpu_even_with_a_gpu_unless_told_otherwise(self, monkeypatch):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr("vae_lite.plots.use_style", lambda on: None)  # the rest of the suite keeps its style
        monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # and its threads
        monkeypatch.delenv("VAE_LITE_DEVICE", raising=False)
        assert pick_device().type == "cuda"
        vae_lite.setup_notebook()
        assert pick_device().type == "cpu", "a notebook's checks compare with numbers made on a CPU"
        monkeypatch.setenv("VAE_LITE_DEVICE", "cuda")
        vae_lite.setup_notebook()
        assert pick_device().type == "cuda", "a device the user asked for is kept"

    def test_asking_for_a_missing_or_unknown_device_says_so(self, monkeypatch):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        with pytest.raises(ValueError, match="'cuda' was asked for but is not available"):
            pick_device("cuda")
        with pytest.raises(ValueError, match="unknown device 'tpu'"):
            pick_device("tpu")


class TestDataPlacement:
    """Where fit keeps the training set, simulated: there is no GPU here."""

    def test_on_cuda_the_data_moves_once_when_it_fits_else_it_is_pinned(self, monkeypatch):
        from vae_lite import support

        moved, pinned = [], []
        monkeypatch.setattr(torch.Tensor, "to", lambda self, device, **kw: moved.append(str(device)) or self)
        monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: pinned.append(True) or self)
        x = torch.zeros(1000, 1, 28, 28)  # 3.1 MB
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10**9, 10**9))
        support.place(x, torch.device("cuda"))
        assert moved == ["cuda"] and not pinned
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10**6, 10**9))
        support.place(x, torch.device("cuda"))
        assert moved == ["cuda"] and pinned == [True]

    def test_on_cpu_the_data_stay_where_they_are(self):
        from vae_lite import support

        x = torch.zeros(10, 1, 4, 4)
        assert support.place(x, torch.device("cpu")) is x


# ------------------------------------------------------------------ a conditional model


def labelled_images(n_train=60, n_test=20):
    """8x8 binary images whose ink says their label: an image of class c has pixel c (row by row) on, the
    rest off, so that fit's binarization keeps them as they are."""
    labels = torch.arange(n_train + n_test) % 10
    images = torch.nn.functional.one_hot(labels, 64).float().reshape(-1, 1, 8, 8)
    return vae_lite.ImageData.from_arrays(images[:n_train], images[n_train:], labels[:n_train], labels[n_train:])


def label_of(images):
    return images.flatten(start_dim=1).argmax(dim=1)


def test_fit_gives_a_conditional_model_the_label_of_each_image(conditional_vae):
    data = labelled_images()
    history = fit(conditional_vae, data, epochs=3, batch_size=16, progress=False)
    batches = conditional_vae.seen
    assert len(batches) == 3 * 4  # 60 images in batches of 16
    for x, y in batches:
        assert torch.equal(y, label_of(x))
    assert torch.equal(torch.cat([y for _, y in batches[:4]]).sort().values, data.train_labels.sort().values)
    assert history["test_loss"][-1] < history["test_loss"][0]


def test_evaluate_and_train_step_pass_the_labels_on(conditional_vae):
    data = labelled_images()
    x, y = data.test, data.test_labels
    optimizer = torch.optim.Adam(conditional_vae.parameters(), lr=1e-3)
    means = vae_lite.train_step(conditional_vae, x, optimizer, beta=2.0, y=y)
    assert torch.equal(conditional_vae.seen[-1][1], y)
    assert means["loss"] == pytest.approx(-means["reconstruction"] + 2.0 * means["kl"], rel=1e-5)
    torch.manual_seed(0)
    scores = vae_lite.evaluate(conditional_vae, x, y=y, batch_size=7)
    torch.manual_seed(0)
    other = vae_lite.evaluate(conditional_vae, x, y=(y + 1) % 10, batch_size=7)
    assert scores["loss"] != pytest.approx(other["loss"])  # the labels do reach the model


@pytest.mark.parametrize("which", ["train_labels", "test_labels"])
def test_fit_refuses_a_conditional_model_data_without_labels(conditional_vae, which):
    data = labelled_images()
    setattr(data, which, None)
    with pytest.raises(ValueError, match=f"the model is conditional \\(num_classes=10\\).*no {which}"):
        fit(conditional_vae, data, epochs=1, batch_size=16, progress=False)
    assert conditional_vae.seen == []


def test_fit_refuses_labels_beyond_the_models_classes():
    from conftest import TinyConditionalVAE

    model = TinyConditionalVAE((1, 8, 8), num_classes=5)
    with pytest.raises(ValueError, match=r"train_labels must lie in 0..4 \(num_classes=5\), got labels from 0 to 9"):
        fit(model, labelled_images(), epochs=1, batch_size=16, progress=False)


@pytest.mark.slow
def test_in_jupyter_the_progress_bar_is_replaced_by_a_summary_line():
    """A notebook stores what training did, not a widget that reads 0 % on GitHub."""
    import nbformat
    from nbclient import NotebookClient

    code = ("import vae_lite\n"
            "data = vae_lite.ImageData.from_arrays(__import__('torch').rand(32, 4, 4), __import__('torch').rand(8, 4, 4))\n"
            "vae_lite.fit(vae_lite.VAE(data.image_shape, latent_dim=2, hidden=8), data, epochs=2, batch_size=16);")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    (output,) = nb.cells[0].outputs
    assert output.output_type == "display_data" and set(output.data) == {"text/plain"}, output
    assert output.data["text/plain"].startswith("trained 2 of 2 epochs (4 steps) on cpu in ")
