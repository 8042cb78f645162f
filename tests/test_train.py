import pytest
import torch

import vae_lite
from vae_lite import VAE, Autoencoder, fit, load, pick_device, save


def small_vae(data, seed=0):
    torch.manual_seed(seed)
    return VAE(data.image_shape, latent_dim=4, hidden=64)


def test_fit_lowers_the_test_loss_of_a_vae_on_digits(digits):
    model = small_vae(digits)
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


def test_the_same_seed_gives_the_same_history(digits):
    runs = [fit(small_vae(digits, seed=1), digits, epochs=2, batch_size=100, seed=5, progress=False) for _ in range(2)]
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h.records]
    assert strip(runs[0]) == strip(runs[1])
    other = fit(small_vae(digits, seed=1), digits, epochs=2, batch_size=100, seed=6, progress=False)
    assert strip(other) != strip(runs[0])


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


def test_beta_weights_the_kl_in_the_loss(digits):
    model = small_vae(digits)
    x = vae_lite.binarized_test_set(digits)[:50]
    torch.manual_seed(0)
    terms = vae_lite.elbo(model, x, beta=3.0)
    torch.testing.assert_close(terms.elbo, terms.reconstruction - 3.0 * terms.kl)


def test_save_then_load_gives_the_same_outputs(tmp_path, digits):
    model = small_vae(digits)
    fit(model, digits, epochs=1, progress=False)
    path = save(model, tmp_path / "model.pt", note="test")
    loaded = load(path)
    x = digits.test[:10]
    mu, logvar = model.encode(x)
    mu2, logvar2 = loaded.encode(x)
    torch.testing.assert_close(mu, mu2)
    torch.testing.assert_close(logvar, logvar2)
    torch.testing.assert_close(model.decode(mu), loaded.decode(mu2))
    assert loaded.config == model.config and loaded.checkpoint_extra == {"note": "test"}


def test_conv_and_gaussian_models_round_trip_through_a_checkpoint(tmp_path):
    model = VAE((1, 9, 7), latent_dim=2, hidden=[16, 8], arch="conv", likelihood="gaussian", gaussian_std=None)
    loaded = load(save(model, tmp_path / "m.pt"))
    z = torch.randn(3, 2)
    torch.testing.assert_close(model.decode(z), loaded.decode(z))
    torch.testing.assert_close(model.log_std, loaded.log_std)


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

    def test_asking_for_a_missing_or_unknown_device_says_so(self, monkeypatch):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        with pytest.raises(ValueError, match="'cuda' was asked for but is not available"):
            pick_device("cuda")
        with pytest.raises(ValueError, match="unknown device 'tpu'"):
            pick_device("tpu")


class TestDataPlacement:
    """Where fit keeps the training set, simulated: there is no GPU here."""

    def test_on_cuda_the_data_moves_once_when_it_fits_else_it_is_pinned(self, monkeypatch):
        from vae_lite import train

        moved, pinned = [], []
        monkeypatch.setattr(torch.Tensor, "to", lambda self, device, **kw: moved.append(str(device)) or self)
        monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: pinned.append(True) or self)
        x = torch.zeros(1000, 1, 28, 28)  # 3.1 MB
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10**9, 10**9))
        train._place(x, torch.device("cuda"))
        assert moved == ["cuda"] and not pinned
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10**6, 10**9))
        train._place(x, torch.device("cuda"))
        assert moved == ["cuda"] and pinned == [True]

    def test_on_cpu_the_data_stay_where_they_are(self):
        from vae_lite import train

        x = torch.zeros(10, 1, 4, 4)
        assert train._place(x, torch.device("cpu")) is x


def test_an_ignored_sigint_stays_ignored_during_an_optimizer_step():
    """fit defers Ctrl-C only where it would raise; a process that ignores SIGINT keeps ignoring it."""
    import os
    import signal

    from vae_lite import train

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with train._finish_before_interrupt():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)


# ------------------------------------------------------------------ a conditional model


def labelled_images(n_train=60, n_test=20):
    """8x8 images whose grey level says their label: every pixel of an image of class c is (c + 1) / 11."""
    labels = torch.arange(n_train + n_test) % 10
    images = ((labels + 1) / 11).reshape(-1, 1, 1, 1).expand(-1, 1, 8, 8)
    return vae_lite.ImageData.from_arrays(images[:n_train], images[n_train:], labels[:n_train], labels[n_train:])


def label_of(images):
    return (images[:, 0, 0, 0] * 11 - 1).round().long()


def test_fit_gives_a_conditional_model_the_label_of_each_image(conditional_vae):
    data = labelled_images()
    history = fit(conditional_vae, data, epochs=3, batch_size=16, binarize_data=False, progress=False)
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
