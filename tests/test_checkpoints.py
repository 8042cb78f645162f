"""save and load: the round trip; saves that are interrupted; checkpoints crafted to run code,
saved on a GPU, from another version, or damaged; the default model."""

import os
import pickle
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import vae_lite
import vae_lite.checkpoint as checkpoint
from conftest import same_weights, start_child, tiny_vae
from vae_lite import VAE, CheckpointError, fit, load, save

pytestmark = pytest.mark.usefixtures("one_thread")


def temporaries(directory):
    return sorted(p.name for p in Path(directory).glob("*.part"))


# ------------------------------------------------------------------ the round trip

@pytest.mark.parametrize("arguments", [dict(latent_dim=4, hidden=64),
                                       dict(latent_dim=2, hidden=[16, 8], arch="conv", likelihood="gaussian",
                                            gaussian_std=None)])
def test_save_then_load_gives_the_same_model(tmp_path, digits, arguments):
    """A trained MLP, and a conv net with a learned Gaussian variance: same settings, same
    weights, same outputs, and the extra values saved with it."""
    model = VAE(digits.image_shape, **arguments)
    fit(model, digits, epochs=1, progress=False)
    loaded = load(save(model, tmp_path / "model.pt", note="test"))
    assert loaded.config == model.config and loaded.checkpoint_extra == {"note": "test"}
    assert same_weights(loaded, model)
    x = digits.test[:10]
    torch.testing.assert_close(loaded.encode(x), model.encode(x))
    z = torch.randn(3, model.latent_dim)
    torch.testing.assert_close(loaded.decode(z), model.decode(z))


def test_an_iwae_loads_with_its_number_of_importance_samples(tmp_path):
    model = vae_lite.IWAE((1, 8, 8), latent_dim=3, hidden=16, k=50)
    loaded = load(save(model, tmp_path / "iwae.pt"))
    assert type(loaded) is vae_lite.IWAE and loaded.k == 50



def test_a_model_trained_with_tanh_in_place_of_relu_loads_with_tanh(tmp_path):
    """benchmarks/frontier.py --activation tanh swaps an MLP's ReLUs and saves activation="tanh": loaded
    with ReLUs, the same weights would compute another network (Burda's architecture: -ELBO 74,739 nats
    against 90.8)."""
    model = tiny_vae()
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, torch.nn.ReLU):
                setattr(module, name, torch.nn.Tanh())
    loaded = load(save(model, tmp_path / "tanh.pt", activation="tanh"))
    assert any(isinstance(m, torch.nn.Tanh) for m in loaded.modules())
    assert not any(isinstance(m, torch.nn.ReLU) for m in loaded.modules())
    x = torch.rand(4, 1, 6, 6)
    torch.testing.assert_close(loaded.encode(x), model.encode(x))
    z = torch.randn(3, model.latent_dim)
    torch.testing.assert_close(loaded.decode(z), model.decode(z))


def test_an_unknown_activation_is_refused_with_its_name(tmp_path):
    path = save(tiny_vae(), tmp_path / "odd.pt", activation="swish2")
    with pytest.raises(CheckpointError, match="swish2"):
        load(path)


# ------------------------------------------------------------------ atomic saves

def save_a_then_b_slowly(path):
    """(Run in a child process.) Save model A, then start saving model B very slowly."""
    save(tiny_vae(), path, which="A")
    model_b = tiny_vae()
    with torch.no_grad():
        for p in model_b.parameters():
            p.add_(1.0)
    real_save = torch.save

    class SlowFile:
        """A file whose writes stall after the first 200 bytes, as on a slow or full disk."""

        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, b):
            if self.written > 200:
                print("writing", flush=True)
                time.sleep(60)
            self.written += len(b)
            n = self.f.write(b)
            self.f.flush()  # on disk now, so the parent sees a half-written file
            return n

        def flush(self):
            self.f.flush()

    checkpoint.torch.save = lambda obj, f: real_save(obj, SlowFile(f))
    save(model_b, path, which="B")
    print("finished", flush=True)  # never reached: the parent kills us while writing


def test_a_save_killed_half_way_leaves_the_previous_checkpoint_intact(tmp_path):
    """A real process saves model A, then is SIGKILLed while its save of model B is half-written."""
    path = tmp_path / "model.pt"
    child = start_child(save_a_then_b_slowly, str(path))
    try:
        line = child.stdout.readline()
        assert line.strip() == "writing", child.stderr.read()
        half_written = temporaries(tmp_path)
        assert len(half_written) == 1 and (tmp_path / half_written[0]).stat().st_size > 0
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()  # reaped, so its pid no longer counts as running

    model = load(path)
    assert model.checkpoint_extra == {"which": "A"} and same_weights(model, tiny_vae())
    # SIGKILL gives the process no chance to clean up: its temporary file is still there...
    assert temporaries(tmp_path) == half_written
    # ...and the next save to the same path removes it
    save(tiny_vae(seed=1), path, which="C")
    assert temporaries(tmp_path) == []
    assert load(path).checkpoint_extra == {"which": "C"}


def test_a_save_interrupted_by_an_error_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = save(tiny_vae(), tmp_path / "model.pt", which="A")

    def fails_half_way(obj, f):
        f.write(b"PK\x03\x04 half a zip file")
        raise KeyboardInterrupt  # the stop button, pressed during the save

    monkeypatch.setattr(checkpoint.torch, "save", fails_half_way)
    with pytest.raises(KeyboardInterrupt):
        save(tiny_vae(seed=1), path, which="B")
    monkeypatch.undo()
    assert temporaries(tmp_path) == [] and load(path).checkpoint_extra == {"which": "A"}


def test_saved_files_are_as_readable_as_files_written_with_open(tmp_path):
    """mkstemp's temporary files are private (0o600); a shared checkpoint must not be."""
    save(tiny_vae(), tmp_path / "model.pt")
    (tmp_path / "plain.txt").write_text("x")
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)
    assert mode(tmp_path / "model.pt") == mode(tmp_path / "plain.txt")


def test_a_running_process_keeps_its_temporary_file(tmp_path):
    """Only leftovers of processes that are gone are removed, never a save in progress."""
    from vae_lite._files import _HOST, atomic_write

    path = tmp_path / "model.pt"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        live = tmp_path / f".model.pt.{_HOST}.{sleeper.pid}.abc.part"
        live.write_bytes(b"in progress")
        other_host = tmp_path / f".model.pt.another-machine.{sleeper.pid + 1}.abc.part"
        other_host.write_bytes(b"in progress elsewhere")
        atomic_write(path, lambda f: f.write(b"done"))
        assert live.exists() and other_host.exists() and path.read_bytes() == b"done"
    finally:
        sleeper.kill()
        sleeper.wait()
    atomic_write(path, lambda f: f.write(b"again"))
    assert not live.exists() and other_host.exists()


# ------------------------------------------------------------------ checkpoints that could run code

class RunsCode:
    """Unpickling this calls os.mkdir(path): a harmless stand-in for any code an attacker likes."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.mkdir, (self.path,)


def crafted_checkpoints(tmp_path, marker):
    model = tiny_vae()
    inside = {"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "model": "VAE",
              "config": model.config, "state_dict": model.state_dict(), "extra": {"note": RunsCode(marker)}}
    zipped = tmp_path / f"zip-{marker.name}.pt"
    torch.save(inside, zipped)
    raw = tmp_path / f"raw-{marker.name}.pt"  # the legacy format: one plain pickle
    raw.write_bytes(pickle.dumps(RunsCode(marker), protocol=2))
    newer = tmp_path / f"raw5-{marker.name}.pt"  # a newer pickle protocol, which torch cannot even parse safely
    newer.write_bytes(pickle.dumps(RunsCode(marker), protocol=5))
    return [zipped, raw, newer]


def test_the_crafted_checkpoints_really_run_code_when_loaded_unsafely(tmp_path):
    """Proof that the files below are dangerous: torch.load(weights_only=False) runs them."""
    for path in crafted_checkpoints(tmp_path, tmp_path / "ran"):
        marker = tmp_path / "ran"
        if marker.exists():
            marker.rmdir()
        try:
            torch.load(path, weights_only=False)
        except RuntimeError:  # a bare pickle is not a valid torch file, but its code has run by then
            pass
        assert marker.is_dir()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's note on the protocol-5 file
def test_load_refuses_a_checkpoint_crafted_to_run_code(tmp_path):
    marker = tmp_path / "pwned"
    for path in crafted_checkpoints(tmp_path, marker):
        with pytest.raises(CheckpointError) as error:
            load(path)
        message = str(error.value)
        assert not marker.exists(), "loading the checkpoint ran its code"
        assert str(path) in message and "could run code" in message and "refused" in message
        assert "mkdir" in message or "Unsupported operand" in message  # names what it found
        assert "weights_only" not in message, "do not point students at the unsafe option"


# ------------------------------------------------------------------ a checkpoint from a GPU machine

def as_if_saved_on_cuda(cpu_file, cuda_file):
    """Rewrite each tensor's storage location in the zip's data.pkl from 'cpu' to 'cuda:0'.

    torch.save records the location of every storage as a string in the pickle's
    persistent ids; a checkpoint saved on a GPU differs from a CPU one only there.
    """
    cpu_tag, cuda_tag = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"  # BINUNICODE opcodes
    with zipfile.ZipFile(cpu_file) as src, zipfile.ZipFile(cuda_file, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            payload = src.read(info.filename)
            if info.filename.endswith("/data.pkl"):
                assert payload.count(cpu_tag) == 1  # pickled once, then referenced from its memo
                payload = payload.replace(cpu_tag, cuda_tag)
            dst.writestr(info.filename, payload)
    return cuda_file


def test_a_checkpoint_saved_on_cuda_loads_on_the_cpu(tmp_path):
    model = tiny_vae()
    cuda_file = as_if_saved_on_cuda(save(model, tmp_path / "cpu.pt"), tmp_path / "cuda.pt")
    if not torch.cuda.is_available():
        # the crafted file really is a CUDA checkpoint: without a map_location it cannot load here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(cuda_file, weights_only=True)
    loaded = load(cuda_file)
    assert loaded.device.type == "cpu" and same_weights(loaded, model)


# ------------------------------------------------------------------ other versions, damaged files

def write_checkpoint(path, **changes):
    model = tiny_vae()
    content = {"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "model": "VAE",
               "config": model.config, "state_dict": model.state_dict(), "extra": {}}
    content.update(changes)
    torch.save(content, path)
    return path


def test_a_checkpoint_from_an_incompatible_version_says_so(tmp_path):
    path = write_checkpoint(tmp_path / "future.pt", version=checkpoint.VERSION + 1)
    with pytest.raises(CheckpointError) as error:
        load(path)
    assert f"format version {checkpoint.VERSION + 1}" in str(error.value)
    assert f"reads version {checkpoint.VERSION}" in str(error.value)
    assert "load it with the version that wrote it, or retrain" in str(error.value)


@pytest.mark.parametrize("content, words", [
    (b"", ["not a readable checkpoint", "damaged or truncated", "Save the model again, or get a fresh copy"]),
    (b"this is a text file, not a checkpoint", ["not a readable checkpoint"]),
    ("half", ["not a readable checkpoint"]),
])
def test_a_damaged_checkpoint_is_reported_not_crashed_on(tmp_path, content, words):
    path = tmp_path / "model.pt"
    if content == "half":
        whole = save(tiny_vae(), path).read_bytes()
        content = whole[: len(whole) // 2]
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as error:
        load(path)
    assert str(path) in str(error.value)
    for word in words:
        assert word in str(error.value)


def test_a_state_dict_or_an_edited_checkpoint_is_reported(tmp_path):
    torch.save(tiny_vae().state_dict(), tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="is not a vae_lite checkpoint; save one with vae_lite.save"):
        load(tmp_path / "weights.pt")
    edited = write_checkpoint(tmp_path / "edited.pt", config={**tiny_vae().config, "latent_dim": 3})
    with pytest.raises(CheckpointError, match="settings or weights do not fit together"):
        load(edited)


def test_extra_values_that_load_could_not_read_are_converted_or_refused_at_save_time(tmp_path):
    """A numpy float saves fine with torch.save, but weights_only loading refuses it later."""
    path = save(tiny_vae(), tmp_path / "model.pt", test_elbo=np.float64(-97.5), steps=np.int64(3),
                curve=np.array([1.0, 2.0]), history=[{"epoch": 1, "loss": 1.5}])
    extra = load(path).checkpoint_extra
    assert extra["test_elbo"] == -97.5 and type(extra["test_elbo"]) is float and extra["steps"] == 3
    assert torch.equal(extra["curve"], torch.tensor([1.0, 2.0], dtype=torch.float64))
    with pytest.raises(TypeError, match=r"save cannot store extra\['note'\]"):
        save(tiny_vae(), path, note=RunsCode(tmp_path / "never"))
    assert load(path).checkpoint_extra["test_elbo"] == -97.5  # the refused save did not touch the file


def test_the_default_model_is_trained_for_any_data_set_but_mnist_once(monkeypatch, tmp_path):
    """The MNIST weights go only to data named "mnist": Fashion-MNIST has the same image
    shape, and gets a model trained on it, once: later calls load it from the user cache."""
    from vae_lite import pretrained

    trained = []

    def train(data, device, kind):
        trained.append((data.name, kind))
        return pretrained.KINDS[kind][0](data.image_shape, latent_dim=2, encoder_hidden=[8], decoder_hidden=[8])

    monkeypatch.setattr(pretrained, "train_default_model", train)
    monkeypatch.setattr(pretrained, "_cache_dir", lambda: tmp_path / "cache")
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    for name in ("fashion-mnist", "images"):
        data = vae_lite.ImageData.from_arrays(images, images, name=name)
        for kind in ("vae", "autoencoder"):
            made, again = pretrained.default_model(data, kind=kind), pretrained.default_model(data, kind=kind)
            assert type(again) is type(made) and again.latent_dim == 2, "the second call should load the first's model"
            assert all(torch.equal(a, b) for a, b in zip(made.state_dict().values(), again.state_dict().values()))
    assert trained == [(name, kind) for name in ("fashion-mnist", "images") for kind in ("vae", "autoencoder")]
    pretrained.default_model(vae_lite.ImageData.from_arrays(images + 1, name="images"))
    assert trained[-1] == ("images", "vae") and len(trained) == 5, "other images under the same name train anew"
    monkeypatch.setitem(pretrained.TRAINING, "lr", 1e-3)
    pretrained.default_model(vae_lite.ImageData.from_arrays(images, name="images"))
    assert len(trained) == 6, "another recipe trains anew"
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 6

    loaded = []
    monkeypatch.setattr(pretrained, "load", lambda path, device: loaded.append(path) or "loaded")
    mnist = vae_lite.ImageData.from_arrays(images, name="mnist")
    assert pretrained.default_model(mnist) == "loaded" and pretrained.default_model(mnist, kind="autoencoder") == "loaded"
    assert loaded == [pretrained.CHECKPOINT, pretrained.AUTOENCODER_CHECKPOINT]  # both ship with the package
    assert len(trained) == 6
    with pytest.raises(ValueError, match="kind must be one of 'vae', 'autoencoder', got 'ae'"):
        pretrained.default_model(mnist, kind="ae")


def test_the_shipped_autoencoder_is_an_autoencoder_of_the_vaes_sizes():
    """Notebook 05 compares the default VAE's samples with this autoencoder's: same sizes, same data."""
    from vae_lite import pretrained

    vae, autoencoder = load(pretrained.CHECKPOINT), load(pretrained.AUTOENCODER_CHECKPOINT)
    assert type(autoencoder) is vae_lite.Autoencoder and type(vae) is vae_lite.VAE
    assert (autoencoder.latent_dim, autoencoder.encoder_hidden, autoencoder.decoder_hidden) == \
        (vae.latent_dim, vae.encoder_hidden, vae.decoder_hidden)
    assert autoencoder.checkpoint_extra["dataset"] == vae.checkpoint_extra["dataset"] == "mnist"
    assert autoencoder.checkpoint_extra["epochs"] == vae.checkpoint_extra["epochs"] == pretrained.TRAINING["epochs"]


def test_the_recipe_the_readme_docstring_and_notebook_05_write_out_is_the_default_recipe():
    """They spell out the fit call that makes the default model; a recipe change must reach them too."""
    import re

    from vae_lite import pretrained

    root = Path(__file__).resolve().parent.parent
    for path in ("README.md", "vae_lite/__init__.py", "notebooks/05_vae.py"):
        text = (root / path).read_text()
        calls = re.findall(r"vae_lite\.fit\((?:[^()]|\([^()]*\))*\)", text)
        call = next(c for c in calls if "onecycle" in c)  # the VAE's training, not other fits
        for key in ("batch_size", "lr"):
            value = re.search(rf"{key}=([\d.e-]+)", call).group(1)
            assert float(value) == pretrained.TRAINING[key], f"{path}: {key}={value} in {call!r}"
        epochs = re.search(r"epochs=(\w+)", call).group(1)
        assert epochs == "EPOCHS" or int(epochs) == pretrained.TRAINING["epochs"], f"{path}: epochs={epochs}"
        schedule = re.search(r'schedule="(\w+)"', call).group(1)
        assert schedule == pretrained.TRAINING["schedule"], f"{path}: schedule={schedule}"
        warmup = re.search(r"warmup=(?:min\()?(\d+)", call).group(1)  # "warmup=2", or 05's "warmup=min(2, EPOCHS)"
        assert int(warmup) == pretrained.TRAINING["warmup"], f"{path}: warmup={warmup}"
