"""Data that is damaged, cut off, inconsistent, shared between processes or read-only (issue 6).

Every failure must raise DataError (or ValueError for arrays) naming the file and the fix,
and must leave no half-written file in the cache. Downloads are served by a local HTTP
server on 127.0.0.1 standing in for the mirrors: there is no network in CI.
"""

import errno
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import vae_lite
import vae_lite.data as data
from helpers_reliability import (
    IDX_NAMES, FileServer, idx_bytes, idx_files, md5s, recorded_writes, snapshot, write_files,
)

HELPERS = Path(__file__).with_name("helpers_reliability.py")
FILES = idx_files()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty user cache, no VAE_LITE_DATA, no system copy, and a tiny fake 'mnist'."""
    monkeypatch.delenv("VAE_LITE_DATA", raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setattr(data, "_cache_dir", lambda: cache)
    everywhere = data.search_dirs
    monkeypatch.setattr(data, "search_dirs", lambda name, root=None: [
        d for d in everywhere(name, root) if not str(d).startswith("/usr/share/datasets")])
    monkeypatch.setitem(data.IDX_FILES, "mnist", md5s(FILES))
    monkeypatch.setitem(data.MIRRORS, "mnist", [])
    return cache / "mnist"


def leftovers(directory):
    """Temporary files (atomic_write's '.<name>.*.part') left in a directory."""
    return sorted(p.name for p in Path(directory).glob("*.part")) if Path(directory).exists() else []


# ------------------------------------------------------------------ damaged files on disk

def damaged_copy(tmp_path, name, payload):
    folder = write_files(tmp_path / "data" / "mnist", {**FILES, name: payload})
    return folder, folder / name


def load_expecting_error(folder):
    before = snapshot(folder)
    with pytest.raises(vae_lite.DataError) as error:
        vae_lite.load_dataset("mnist", root=folder, download=False)
    assert snapshot(folder) == before, "loading a damaged file must not change the folder"
    return str(error.value)


def test_truncated_gz_names_the_file_and_the_fix(tmp_path, cache):
    whole = FILES["train-images-idx3-ubyte.gz"]
    folder, bad = damaged_copy(tmp_path, "train-images-idx3-ubyte.gz", whole[: len(whole) // 2])
    message = load_expecting_error(folder)
    assert str(bad) in message and "truncated" in message
    assert f"delete {bad}" in message and "fresh copy" in message


def test_a_web_page_saved_as_gz_is_reported_as_damaged(tmp_path, cache):
    folder, bad = damaged_copy(tmp_path, "t10k-labels-idx1-ubyte.gz", b"<html>404 Not Found</html>")
    message = load_expecting_error(folder)
    assert str(bad) in message and "damaged" in message and f"delete {bad}" in message


def test_wrong_idx_magic_number_names_the_file(tmp_path, cache):
    not_idx = gzip.compress(b"\x1f\x8b\x08\x00" + bytes(100), mtime=0)  # a .gz inside a .gz: not IDX
    folder, bad = damaged_copy(tmp_path, "train-labels-idx1-ubyte.gz", not_idx)
    message = load_expecting_error(folder)
    assert str(bad) in message and "wrong magic number 1f8b0800" in message and f"delete {bad}" in message


def test_uncompressed_idx_cut_short_names_the_file(tmp_path, cache):
    folder = write_files(tmp_path / "data" / "mnist", FILES)
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    raw = idx_bytes(np.zeros((10, 6, 5)))
    bad = folder / "t10k-images-idx3-ubyte"  # the uncompressed name is accepted too
    bad.write_bytes(raw[:-7])
    message = load_expecting_error(folder)
    assert str(bad) in message and "should hold 300 bytes" in message and "holds 293" in message


def test_image_and_label_counts_that_disagree_name_both_files(tmp_path, cache):
    rng = np.random.default_rng(1)
    labels = gzip.compress(idx_bytes(rng.integers(0, 10, 19)), mtime=0)  # 20 images, 19 labels
    folder, bad = damaged_copy(tmp_path, "train-labels-idx1-ubyte.gz", labels)
    message = load_expecting_error(folder)
    assert str(folder / "train-images-idx3-ubyte.gz") in message and str(bad) in message
    assert "20 images" in message and "19 labels" in message and "replace both" in message


def test_a_good_copy_loads(tmp_path, cache):
    folder = write_files(tmp_path / "data" / "mnist", FILES)
    loaded = vae_lite.load_dataset("mnist", root=folder, download=False)
    assert loaded.image_shape == (1, 6, 5) and len(loaded.train) == 20 and len(loaded.test) == 10
    expected = np.frombuffer(gzip.decompress(FILES["train-images-idx3-ubyte.gz"])[16:], np.uint8)
    torch.testing.assert_close(loaded.train.flatten(), torch.as_tensor(expected / 255, dtype=torch.float32))


# ------------------------------------------------------------------ downloads

def test_md5_mismatch_after_download_is_refused_and_nothing_is_cached(cache, monkeypatch):
    tampered = dict(FILES)
    name = "t10k-images-idx3-ubyte.gz"
    tampered[name] = gzip.compress(gzip.decompress(FILES[name])[:-1] + b"\x00", mtime=0)
    with FileServer(tampered) as server:
        monkeypatch.setitem(data.MIRRORS, "mnist", [server.url])
        with pytest.raises(vae_lite.DataError) as error:
            vae_lite.load_dataset("mnist")
    message = str(error.value)
    assert f"could not download {name}" in message
    assert f"{server.url}{name}: MD5" in message and md5s(FILES)[name] in message and "it was not saved" in message
    assert "Fix:" in message
    assert not (cache / name).exists(), "a file that failed its MD5 check must not be kept"
    assert leftovers(cache) == []
    # the files that passed their check are kept: the next try fetches only the missing one
    assert sorted(p.name for p in cache.glob("*-ubyte.gz")) == sorted(set(IDX_NAMES[:2]))


def test_download_cut_off_half_way_keeps_nothing_and_the_next_mirror_is_tried(cache, monkeypatch):
    with FileServer(FILES, cut_off=True) as broken, FileServer(FILES) as good:
        monkeypatch.setitem(data.MIRRORS, "mnist", [broken.url])
        with pytest.raises(vae_lite.DataError) as error:
            vae_lite.load_dataset("mnist")
        assert "IncompleteRead" in str(error.value) or "incomplete" in str(error.value).lower()
        assert list(cache.glob("*ubyte*")) == [] and leftovers(cache) == []

        monkeypatch.setitem(data.MIRRORS, "mnist", [broken.url, good.url])
        loaded = vae_lite.load_dataset("mnist")
    assert len(loaded.train) == 20
    assert good.requests == list(IDX_NAMES)
    assert {p.name: p.read_bytes() for p in cache.glob("*-ubyte.gz")} == FILES
    assert leftovers(cache) == []


class DiskFills:
    """A file object that takes 100 bytes, then fails as a full disk does."""

    def __init__(self, f):
        self.f, self.room = f, 100

    def write(self, b):
        if len(b) > self.room:
            self.f.write(b[:self.room])
            self.f.flush()
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(b)
        return self.f.write(b)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_a_disk_that_fills_during_a_download_leaves_no_partial_file(cache, monkeypatch):
    import builtins

    real_fdopen, real_open = os.fdopen, builtins.open
    writing = lambda mode: "w" in mode or "a" in mode
    with FileServer(FILES) as server:
        monkeypatch.setitem(data.MIRRORS, "mnist", [server.url])
        with monkeypatch.context() as disk_full:
            disk_full.setattr(os, "fdopen", lambda fd, mode="r", *a, **k: DiskFills(real_fdopen(fd, mode, *a, **k))
                              if writing(mode) else real_fdopen(fd, mode, *a, **k))
            disk_full.setattr(builtins, "open", lambda file, mode="r", *a, **k: DiskFills(real_open(file, mode, *a, **k))
                              if writing(mode) and str(cache) in str(file) else real_open(file, mode, *a, **k))
            with pytest.raises(vae_lite.DataError) as error:
                vae_lite.load_dataset("mnist")
        assert "No space left on device" in str(error.value)
        assert list(cache.glob("*ubyte*")) == [] and leftovers(cache) == []
        loaded = vae_lite.load_dataset("mnist")  # room again: the next try just works
    assert len(loaded.train) == 20 and leftovers(cache) == []


def test_downloaded_files_are_reused_without_the_network(cache, monkeypatch):
    with FileServer(FILES) as server:
        monkeypatch.setitem(data.MIRRORS, "mnist", [server.url])
        first = vae_lite.load_dataset("mnist")
    # the server is gone now; the cache must be enough
    second = vae_lite.load_dataset("mnist")
    assert torch.equal(first.train, second.train) and len(server.requests) == 4


def test_two_processes_downloading_into_one_cache_end_with_one_good_copy(tmp_path, cache):
    """Two kernels on one JupyterHub account call load_dataset: real processes, started at once.

    The server sends each file slowly (0.3 s), so without the file lock both processes
    would fetch every file (8 requests) and could read a file the other is still writing.
    """
    ready = tmp_path / "ready"
    ready.mkdir()
    with FileServer(FILES, seconds_per_file=0.3) as server:
        command = [sys.executable, str(HELPERS), "download", str(cache), server.url, json.dumps(md5s(FILES)),
                   str(ready)]
        children = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for _ in range(2)]
        results = [child.communicate(timeout=60) for child in children]
    for child, (out, err) in zip(children, results):
        assert child.returncode == 0, err
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in results]
    assert reports[0] == reports[1] and reports[0]["ok"]
    assert sorted(server.requests) == sorted(IDX_NAMES), f"each file fetched once, got {server.requests}"
    assert {p.name: p.read_bytes() for p in cache.glob("*-ubyte.gz")} == FILES
    assert leftovers(cache) == []


# ------------------------------------------------------------------ read-only data folders

def test_read_only_data_folder_is_read_without_writing(tmp_path, cache):
    folder = write_files(tmp_path / "system" / "mnist", FILES)
    for path in [*folder.iterdir(), folder]:
        path.chmod(0o444 if path.is_file() else 0o555)
    try:
        before = snapshot(tmp_path)
        with recorded_writes() as writes:
            loaded = vae_lite.load_dataset("mnist", root=folder)
        assert writes == [], f"loading from a read-only folder tried to write: {writes}"
        assert snapshot(tmp_path) == before
        assert len(loaded.train) == 20
    finally:
        folder.chmod(0o755)


def test_recorded_writes_does_see_a_write():
    """The guard above must be able to fail: a write through atomic_write is recorded."""
    import tempfile

    with tempfile.TemporaryDirectory() as directory, recorded_writes() as writes:
        data.atomic_write(Path(directory) / "x", lambda f: f.write(b"1"))
    events = {event for event, _ in writes}
    assert "open" in events and "os.rename" in events, writes  # os.replace is audited as os.rename


DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist_is_read_without_writing(tmp_path, monkeypatch):
    monkeypatch.delenv("VAE_LITE_DATA", raising=False)
    monkeypatch.setattr(data, "_cache_dir", lambda: tmp_path / "empty-cache")
    before = snapshot(DEBIAN)
    with recorded_writes() as writes:
        fashion = vae_lite.load_dataset("fashion-mnist", download=False)
    assert writes == [] and snapshot(DEBIAN) == before
    assert not (tmp_path / "empty-cache").exists()
    assert fashion.image_shape == (1, 28, 28) and len(fashion.train) == 60_000


# ------------------------------------------------------------------ your own arrays

@pytest.mark.parametrize("array, words", [
    (np.zeros((28, 28)), ["train must have shape (N, H, W) or (N, C, H, W)", "(28, 28)"]),
    (np.zeros((2, 1, 1, 28, 28)), ["train must have shape", "(2, 1, 1, 28, 28)"]),
    (np.zeros((0, 28, 28)), ["train holds no images"]),
    (np.array([[[0.5, np.nan]]]), ["train contains NaN or infinite values", "clean or drop"]),
    (np.array([[[0.5, np.inf]]]), ["train contains NaN or infinite values"]),
    (np.array([[[-np.inf, 0.5]]], dtype=np.float32), ["train contains NaN or infinite values"]),
    (np.array([[[0.0, 255.0]]]), ["train has values in [0, 255]", "must lie in [0, 1]", "divide by 255"]),
    (np.array([[[-0.1, 0.5]]]), ["train has values in [-0.1, 0.5]", "must lie in [0, 1]"]),
    (np.array([[[0, 255]]], dtype=np.int64), ["train has values in [0, 255]", "pass uint8"]),
    (np.array([[["a", "b"]]]), ["train must be uint8 or float numbers", "<U1"]),
])
def test_from_arrays_rejects_bad_images_with_a_clear_message(array, words):
    with pytest.raises(ValueError) as error:
        vae_lite.ImageData.from_arrays(array)
    for word in words:
        assert word in str(error.value)


def test_from_arrays_names_the_test_set_and_checks_labels():
    good = np.zeros((4, 3, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="test contains NaN"):
        vae_lite.ImageData.from_arrays(good, np.full((2, 3, 3), np.nan))
    with pytest.raises(ValueError, match="train_labels has 3 labels but there are 4 images"):
        vae_lite.ImageData.from_arrays(good, train_labels=[1, 2, 3])


def test_from_arrays_scales_uint8_and_keeps_floats():
    images = np.array([[[0, 51, 255]]], dtype=np.uint8)
    loaded = vae_lite.ImageData.from_arrays(images, images)
    assert loaded.train.dtype == torch.float32 and loaded.image_shape == (1, 1, 3)
    torch.testing.assert_close(loaded.train.flatten(), torch.tensor([0.0, 0.2, 1.0]))
    floats = np.array([[[0.0, 0.25, 1.0]]])
    torch.testing.assert_close(vae_lite.ImageData.from_arrays(floats).train.flatten(),
                               torch.tensor([0.0, 0.25, 1.0]))
