"""vae_lite.data: data sets as tensors, where their files are found, and what happens when they are not.

Every failure raises DataError (or ValueError for arrays) naming the file and the fix, and
leaves no half-written file behind. Downloads are served by a local HTTP server on 127.0.0.1
standing in for the mirrors: there is no network in CI.
"""

import errno
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.io import savemat

import vae_lite
import vae_lite.data as data
from helpers_reliability import FileServer, idx_bytes, idx_files, md5s, recorded_writes, snapshot, write_files
from vae_lite.data import DataError, ImageData, read_idx

ROOT = Path(__file__).resolve().parent.parent
TINY = idx_files()  # a tiny MNIST-like data set: 20 train and 10 test images of 6 x 5 pixels
IDX_NAMES = list(TINY)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No data anywhere: no VAE_LITE_DATA, no repository data/, an empty cache and system folder."""
    monkeypatch.delenv("VAE_LITE_DATA", raising=False)
    monkeypatch.setattr(data, "_cache_dir", lambda: tmp_path / "cache")
    monkeypatch.setattr(data, "SYSTEM_DATA_DIR", tmp_path / "system")
    monkeypatch.setattr(data, "REPOSITORY_DATA_DIR", None)
    for name in data.MIRRORS:
        monkeypatch.setitem(data.MIRRORS, name, [])
    return tmp_path


@pytest.fixture
def cache(nowhere, monkeypatch):
    """As `nowhere`, with 'mnist' standing for the tiny data set; returns the cache's mnist folder."""
    monkeypatch.setitem(data.FILES, "mnist", md5s(TINY))
    return nowhere / "cache" / "mnist"


def leftovers(directory):
    """Temporary files (atomic_write's '.<name>.*.part') left in a directory."""
    return sorted(p.name for p in Path(directory).glob("*.part")) if Path(directory).exists() else []


# ------------------------------------------------------------------ the IDX format

@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_parses_a_small_file(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("x-idx3-ubyte.gz" if compress else "x-idx3-ubyte")
    path.write_bytes(gzip.compress(idx_bytes(images)) if compress else idx_bytes(images))
    np.testing.assert_array_equal(read_idx(path), images)


def damaged_copy(tmp_path, name, payload):
    folder = write_files(tmp_path / "data" / "mnist", {**TINY, name: payload})
    return folder, folder / name


def load_expecting_error(folder):
    before = snapshot(folder)
    with pytest.raises(DataError) as error:
        vae_lite.load_dataset("mnist", root=folder, download=False)
    assert snapshot(folder) == before, "loading a damaged file must not change the folder"
    return str(error.value)


def test_truncated_gz_names_the_file_and_the_fix(tmp_path, cache):
    whole = TINY["train-images-idx3-ubyte.gz"]
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
    folder = write_files(tmp_path / "data" / "mnist", TINY)
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


def test_a_good_copy_loads_from_root_with_the_pixels_scaled_to_0_1(tmp_path, cache):
    folder = write_files(tmp_path / "data" / "mnist", TINY)
    loaded = vae_lite.load_dataset("mnist", root=folder, download=False)
    assert loaded.image_shape == (1, 6, 5) and len(loaded.train) == 20 and len(loaded.test) == 10
    assert loaded.test_labels.shape == (10,)
    expected = np.frombuffer(gzip.decompress(TINY["train-images-idx3-ubyte.gz"])[16:], np.uint8)
    torch.testing.assert_close(loaded.train.flatten(), torch.as_tensor(expected / 255, dtype=torch.float32))


# ------------------------------------------------------------------ where the files are looked for

def test_search_places_come_in_the_documented_order(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_LITE_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(data, "_cache_dir", lambda: tmp_path / "cache")
    assert data.search_dirs("mnist", root=tmp_path / "root") == [
        tmp_path / "root", tmp_path / "root" / "mnist", tmp_path / "env" / "mnist",
        ROOT / "data" / "mnist", tmp_path / "cache" / "mnist", Path("/usr/share/datasets/mnist")]


def test_vae_lite_data_comes_before_the_repository_copy(tmp_path, monkeypatch):
    write_files(tmp_path / "mine" / "mnist", TINY)
    monkeypatch.setenv("VAE_LITE_DATA", str(tmp_path / "mine"))
    monkeypatch.setitem(data.FILES, "mnist", md5s(TINY))
    assert vae_lite.load_dataset("mnist", download=False).image_shape == (1, 6, 5)


def test_missing_files_without_download_say_where_they_were_looked_for(nowhere, monkeypatch):
    monkeypatch.setenv("VAE_LITE_DATA", str(nowhere / "nothing"))
    with pytest.raises(DataError) as error:
        vae_lite.load_dataset("fashion-mnist", root=nowhere / "empty", download=False)
    message = str(error.value)
    for place in (nowhere / "empty", nowhere / "nothing" / "fashion-mnist", nowhere / "cache" / "fashion-mnist",
                  nowhere / "system" / "fashion-mnist"):
        assert str(place) in message
    assert "download=True" in message and "apt-get install dataset-fashion-mnist" in message


def test_auto_falls_back_to_digits_offline_and_says_why(nowhere, monkeypatch, capsys):
    monkeypatch.setitem(data.MIRRORS, "mnist", ["http://127.0.0.1:9/"])  # nothing listens on port 9
    loaded = vae_lite.load_dataset("auto")
    assert loaded.name == "digits"
    said = capsys.readouterr().out
    assert "digits" in said and "mnist was not found" in said and "download failed" in said


def test_no_name_takes_vae_lite_dataset(monkeypatch):
    monkeypatch.setenv("VAE_LITE_DATASET", "frey-face")
    assert vae_lite.load_dataset().name == "frey-face"
    monkeypatch.setenv("VAE_LITE_DATASET", "digits")
    assert vae_lite.load_dataset().name == "digits"
    monkeypatch.setenv("VAE_LITE_DATASET", "cifar")
    with pytest.raises(ValueError, match="unknown data set 'cifar'.*frey-face"):
        vae_lite.load_dataset()


def test_digits_load_offline_with_the_documented_shapes(digits):
    assert digits.name == "digits" and digits.image_shape == (1, 8, 8)
    assert len(digits.train) == 1500 and len(digits.test) == 297
    assert digits.train.dtype == torch.float32 and 0 <= digits.train.min() and digits.train.max() <= 1
    assert digits.train_labels.dtype == torch.int64 and set(digits.train_labels.tolist()) == set(range(10))


# ------------------------------------------------------------------ the files the repository ships

def test_the_shipped_files_are_the_published_ones_and_data_readme_lists_them():
    readme = (ROOT / "data" / "README.md").read_text()
    listed = dict(re.findall(r"^\| `([\w/.-]+)` \| `([0-9a-f]{32})` \|", readme, re.M))
    expected = {f"{name}/{file}": md5 for name in ("mnist", "frey-face") for file, md5 in data.FILES[name].items()}
    assert listed == expected, "data/README.md and vae_lite.data.FILES disagree"
    for relative, md5 in expected.items():
        assert vae_lite._files.file_md5(ROOT / "data" / relative) == md5, f"data/{relative} is not the published file"


def test_mnist_loads_offline_from_the_repository_with_the_original_sizes(monkeypatch, tmp_path):
    monkeypatch.delenv("VAE_LITE_DATA", raising=False)
    monkeypatch.setattr(data, "_cache_dir", lambda: tmp_path / "empty-cache")
    loaded = vae_lite.load_dataset("mnist", download=False)
    assert loaded.train.shape == (60000, 1, 28, 28) and loaded.test.shape == (10000, 1, 28, 28)
    assert loaded.train_labels[:5].tolist() == [5, 0, 4, 1, 9]  # the well-known first labels


def test_a_damaged_shipped_file_is_refused_with_how_to_restore_it(tmp_path, monkeypatch):
    copy = tmp_path / "data"
    shutil.copytree(ROOT / "data" / "frey-face", copy / "frey-face")
    damaged = copy / "frey-face" / "frey_rawface.mat"
    raw = bytearray(damaged.read_bytes())
    raw[-1] ^= 0xFF  # one pixel of the last face: scipy would read it without complaint
    damaged.write_bytes(bytes(raw))
    monkeypatch.delenv("VAE_LITE_DATA", raising=False)
    monkeypatch.setattr(data, "REPOSITORY_DATA_DIR", copy)
    monkeypatch.setattr(data, "REPOSITORY", tmp_path)
    with pytest.raises(DataError) as error:
        vae_lite.load_dataset("frey-face", download=False)
    message = str(error.value)
    assert str(damaged) in message and "damaged" in message and data.FILES["frey-face"]["frey_rawface.mat"] in message
    assert "git checkout -- data/frey-face/frey_rawface.mat" in message


# ------------------------------------------------------------------ Frey Face

@pytest.fixture(scope="module")
def frey():
    return vae_lite.load_dataset("frey-face", download=False)


def test_frey_face_has_1765_train_and_200_test_faces_of_28_by_20_pixels(frey):
    assert frey.name == "frey-face" and frey.image_shape == (1, 28, 20)
    assert len(frey.train) == 1765 and len(frey.test) == 200
    assert frey.train.dtype == torch.float32 and frey.train_labels is None
    assert 0 <= frey.train.min() and frey.train.max() <= 1
    assert torch.equal(frey.train * 255, (frey.train * 255).round()), "pixels are the file's uint8 values / 255"


def frame_numbers(images, faces):
    """Where each image sits in the video: its index among the file's faces (which are all distinct)."""
    frame_of = {face.numpy().tobytes(): i for i, face in enumerate(faces.reshape(len(faces), -1))}
    numbers = [frame_of.get(image.numpy().tobytes()) for image in images.reshape(len(images), -1)]
    assert None not in numbers, "every image should be one frame of the file"
    return torch.tensor(numbers)


def test_frey_face_test_set_is_ten_blocks_of_twenty_consecutive_frames_spread_through_the_video(frey):
    faces = torch.as_tensor(data.read_frey_face(ROOT / "data" / "frey-face" / "frey_rawface.mat")) / 255
    assert faces.shape == (1965, 28, 20) and len(faces.reshape(1965, -1).unique(dim=0)) == 1965
    test, train = frame_numbers(frey.test[:, 0], faces), frame_numbers(frey.train[:, 0], faces)
    assert sorted(test.tolist() + train.tolist()) == list(range(1965)), "each frame in exactly one set"
    blocks = test.sort().values.reshape(10, 20)
    assert (blocks.diff(dim=1) == 1).all(), "each test block is 20 consecutive frames"
    assert (blocks[1:, 0] - blocks[:-1, -1] > 150).all(), "the blocks are apart, not one long run"
    tenths = blocks.float().mean(dim=1) / (1965 / 10)  # each block's centre, in tenths of the video
    assert ((tenths - (torch.arange(10) + 0.5)).abs() < 0.01).all(), "one block in the middle of each tenth"
    again = vae_lite.load_dataset("frey-face", download=False)
    assert torch.equal(again.test, frey.test), "the split must be the same on every call"


def test_frey_face_split_is_not_a_random_permutation(frey):
    """The mistake the split guards against: a random split puts a test frame's neighbours in training."""
    faces = torch.as_tensor(data.read_frey_face(ROOT / "data" / "frey-face" / "frey_rawface.mat")) / 255
    test = set(frame_numbers(frey.test[:, 0], faces).tolist())
    with_a_test_neighbour = sum((i - 1 in test) + (i + 1 in test) for i in test)
    assert with_a_test_neighbour == 2 * (200 - 10), "inside a block both neighbours are test frames"
    shuffled = torch.randperm(1965, generator=torch.Generator().manual_seed(0))[:200].tolist()
    assert sum((i - 1 in shuffled) + (i + 1 in shuffled) for i in shuffled) < 100  # the check can fail


def test_frey_faces_stand_upright(frey):
    """The mean face is nearly mirror-symmetric left to right, not top to bottom.

    A face read with the wrong memory order (columns for rows) is scrambled and loses that.
    """
    mean = frey.train.mean(0)[0]  # (28, 20)
    left_right = (mean - mean.flip(1)).abs().mean()
    top_bottom = (mean - mean.flip(0)).abs().mean()
    assert left_right < 0.5 * top_bottom, (left_right, top_bottom)
    scrambled = frey.train.reshape(-1, 560)[:, torch.arange(560).reshape(20, 28).T.reshape(-1)]
    scrambled_mean = scrambled.mean(0).reshape(28, 20)
    assert (scrambled_mean - scrambled_mean.flip(1)).abs().mean() > 2 * left_right  # the check can fail


def fake_frey_mat(path, n=210, seed=0):
    """A .mat file laid out as frey_rawface.mat: `ff`, uint8 (560, n)."""
    savemat(path, {"ff": np.random.default_rng(seed).integers(0, 256, (560, n), dtype=np.uint8)})
    return path.read_bytes()


def test_frey_face_is_downloaded_md5_checked_and_then_read_offline(nowhere, monkeypatch):
    payload = fake_frey_mat(nowhere / "fake.mat")
    good = {"frey_rawface.mat": payload}
    monkeypatch.setitem(data.FILES, "frey-face", md5s(good))
    tampered = {"frey_rawface.mat": payload[:-1] + bytes([payload[-1] ^ 1])}
    with FileServer(tampered) as bad_mirror, FileServer(good) as mirror:
        monkeypatch.setitem(data.MIRRORS, "frey-face", [bad_mirror.url, mirror.url])
        loaded = vae_lite.load_dataset("frey-face")
    assert (len(loaded.train), len(loaded.test), loaded.image_shape) == (10, 200, (1, 28, 20))
    assert bad_mirror.requests == ["frey_rawface.mat"] and mirror.requests == ["frey_rawface.mat"]
    cached = nowhere / "cache" / "frey-face" / "frey_rawface.mat"
    assert cached.read_bytes() == payload and leftovers(cached.parent) == []
    assert torch.equal(vae_lite.load_dataset("frey-face", download=False).train, loaded.train)  # servers gone


def test_frey_face_offline_says_what_is_missing_and_how_to_get_it(nowhere, monkeypatch):
    monkeypatch.setitem(data.MIRRORS, "frey-face", ["http://127.0.0.1:9/"])
    with pytest.raises(DataError) as error:
        vae_lite.load_dataset("frey-face")
    message = str(error.value)
    assert "frey-face was not found (download failed" in message and "frey_rawface.mat" in message
    assert str(nowhere / "cache" / "frey-face") in message and "git checkout -- data" in message
    assert not list((nowhere / "cache").rglob("*.mat"))


def test_a_mat_file_without_faces_names_the_file(nowhere):
    savemat(nowhere / "frey_rawface.mat", {"faces": np.zeros((3, 3), np.uint8)})
    with pytest.raises(DataError, match=f"{nowhere / 'frey_rawface.mat'} is not a readable frey_rawface.mat"):
        vae_lite.load_dataset("frey-face", root=nowhere, download=False)
    savemat(nowhere / "frey_rawface.mat", {"ff": np.zeros((28, 20), np.uint8)})
    with pytest.raises(DataError, match=r"should hold `ff`, uint8 of shape \(560, N\); got uint8 of shape \(28, 20\)"):
        vae_lite.load_dataset("frey-face", root=nowhere, download=False)


# ------------------------------------------------------------------ downloads

def test_md5_mismatch_after_download_is_refused_and_nothing_is_cached(cache, monkeypatch):
    tampered = dict(TINY)
    name = "t10k-images-idx3-ubyte.gz"
    tampered[name] = gzip.compress(gzip.decompress(TINY[name])[:-1] + b"\x00", mtime=0)
    with FileServer(tampered) as server:
        monkeypatch.setitem(data.MIRRORS, "mnist", [server.url])
        with pytest.raises(DataError) as error:
            vae_lite.load_dataset("mnist")
    message = str(error.value)
    assert f"could not download {name}" in message
    assert f"{server.url}{name}: MD5" in message and md5s(TINY)[name] in message and "it was not saved" in message
    assert "Fix:" in message
    assert not (cache / name).exists(), "a file that failed its MD5 check must not be kept"
    assert leftovers(cache) == []
    # the files that passed their check are kept: the next try fetches only the missing one
    assert sorted(p.name for p in cache.glob("*-ubyte.gz")) == sorted(set(IDX_NAMES[:2]))


def test_download_cut_off_half_way_keeps_nothing_and_the_next_mirror_is_tried(cache, monkeypatch):
    with FileServer(TINY, cut_off=True) as broken, FileServer(TINY) as good:
        monkeypatch.setitem(data.MIRRORS, "mnist", [broken.url])
        with pytest.raises(DataError) as error:
            vae_lite.load_dataset("mnist")
        assert "IncompleteRead" in str(error.value) or "incomplete" in str(error.value).lower()
        assert list(cache.glob("*ubyte*")) == [] and leftovers(cache) == []

        monkeypatch.setitem(data.MIRRORS, "mnist", [broken.url, good.url])
        loaded = vae_lite.load_dataset("mnist")
    assert len(loaded.train) == 20
    assert good.requests == list(IDX_NAMES)
    assert {p.name: p.read_bytes() for p in cache.glob("*-ubyte.gz")} == TINY
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
    with FileServer(TINY) as server:
        monkeypatch.setitem(data.MIRRORS, "mnist", [server.url])
        with monkeypatch.context() as disk_full:
            disk_full.setattr(os, "fdopen", lambda fd, mode="r", *a, **k: DiskFills(real_fdopen(fd, mode, *a, **k))
                              if writing(mode) else real_fdopen(fd, mode, *a, **k))
            disk_full.setattr(builtins, "open", lambda file, mode="r", *a, **k: DiskFills(real_open(file, mode, *a, **k))
                              if writing(mode) and str(cache) in str(file) else real_open(file, mode, *a, **k))
            with pytest.raises(DataError) as error:
                vae_lite.load_dataset("mnist")
        assert "No space left on device" in str(error.value)
        assert list(cache.glob("*ubyte*")) == [] and leftovers(cache) == []
        loaded = vae_lite.load_dataset("mnist")  # room again: the next try just works
    assert len(loaded.train) == 20 and leftovers(cache) == []


def test_downloaded_files_are_reused_without_the_network(cache, monkeypatch):
    with FileServer(TINY) as server:
        monkeypatch.setitem(data.MIRRORS, "mnist", [server.url])
        first = vae_lite.load_dataset("mnist")
    # the server is gone now; the cache must be enough
    second = vae_lite.load_dataset("mnist")
    assert torch.equal(first.train, second.train) and len(server.requests) == 4


# A child program: load_dataset("mnist", root=ROOT) with URL as the only mirror and CACHE as the
# user cache. With a READY folder it first waits until another child is ready too.
CHILD = """
import json, os, sys, time
from pathlib import Path
import vae_lite.data as data
root, cache, url, md5s, ready = sys.argv[1:]
data._cache_dir = lambda: Path(cache)
data.REPOSITORY_DATA_DIR = None
data.SYSTEM_DATA_DIR = Path(cache) / "no-system-folder"
data.FILES["mnist"] = json.loads(md5s)
data.MIRRORS["mnist"] = [url]
if ready != "-":
    (Path(ready) / str(os.getpid())).touch()
    deadline = time.monotonic() + 30
    while len(list(Path(ready).iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
loaded = data.load_dataset("mnist", root=root)
print(json.dumps({"train": loaded.train.sum().item(), "labels": loaded.train_labels.tolist()}))
"""


def run_child(root, cache, url, ready="-", **popen):
    env = {k: v for k, v in os.environ.items() if k != "VAE_LITE_DATA"}
    command = [sys.executable, "-c", CHILD, str(root), str(cache), url, json.dumps(md5s(TINY)), str(ready)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT, **popen)


@pytest.mark.slow  # a new Python process that imports torch
def test_two_processes_downloading_into_one_folder_end_with_one_good_copy(tmp_path):
    """Two kernels on one JupyterHub account call load_dataset: real processes, started at once.

    The server sends each file slowly (0.3 s), so without the file lock both processes
    would fetch every file (8 requests) and could read a file the other is still writing.
    """
    folder, ready = tmp_path / "shared", tmp_path / "ready"
    ready.mkdir()
    with FileServer(TINY, seconds_per_file=0.3) as server:
        children = [run_child(folder, tmp_path / "no-cache", server.url, ready) for _ in range(2)]
        results = [child.communicate(timeout=60) for child in children]
    for child, (out, err) in zip(children, results):
        assert child.returncode == 0, err
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in results]
    assert reports[0] == reports[1] and len(reports[0]["labels"]) == 20
    assert sorted(server.requests) == sorted(IDX_NAMES), f"each file fetched once, got {server.requests}"
    assert {p.name: p.read_bytes() for p in folder.glob("*-ubyte.gz")} == TINY
    assert leftovers(folder) == []


def test_a_read_only_root_without_the_files_downloads_into_the_cache_instead(cache, monkeypatch):
    read_only = cache.parent.parent / "class-data"
    read_only.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root may write anywhere: answer os.access as it does for a student
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **k: False if Path(path) == read_only and mode & os.W_OK
                            else real_access(path, mode, **k))
    with FileServer(TINY) as server:
        monkeypatch.setitem(data.MIRRORS, "mnist", [server.url])
        with recorded_writes() as writes:
            loaded = vae_lite.load_dataset("mnist", root=read_only)
    assert len(loaded.train) == 20
    assert list(read_only.iterdir()) == [] and not [w for w in writes if str(read_only) in w[1]]
    assert sorted(p.name for p in cache.glob("*-ubyte.gz")) == sorted(IDX_NAMES)


def test_a_writable_root_is_where_the_files_are_downloaded(cache, monkeypatch):
    folder = cache.parent.parent / "my-data"
    with FileServer(TINY) as server:
        monkeypatch.setitem(data.MIRRORS, "mnist", [server.url])
        vae_lite.load_dataset("mnist", root=folder)
    assert sorted(p.name for p in folder.glob("*-ubyte.gz")) == sorted(IDX_NAMES) and not cache.exists()


# ------------------------------------------------------------------ read-only data folders

def test_read_only_data_folder_is_read_without_writing(tmp_path, cache):
    folder = write_files(tmp_path / "system" / "mnist", TINY)
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
    with tempfile.TemporaryDirectory() as directory, recorded_writes() as writes:
        vae_lite._files.atomic_write(Path(directory) / "x", lambda f: f.write(b"1"))
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
        ImageData.from_arrays(array)
    for word in words:
        assert word in str(error.value)


def test_from_arrays_names_the_test_set_and_checks_labels():
    good = np.zeros((4, 3, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="test contains NaN"):
        ImageData.from_arrays(good, np.full((2, 3, 3), np.nan))
    with pytest.raises(ValueError, match="train_labels has 3 labels but there are 4 images"):
        ImageData.from_arrays(good, train_labels=[1, 2, 3])


def test_from_arrays_scales_uint8_keeps_floats_and_adds_a_channel():
    images = np.array([[[0, 51, 255]]], dtype=np.uint8)
    loaded = ImageData.from_arrays(images, images, train_labels=[7])
    assert loaded.train.dtype == torch.float32 and loaded.image_shape == (1, 1, 3)
    assert loaded.test.shape == (1, 1, 1, 3) and loaded.train_labels.tolist() == [7]
    torch.testing.assert_close(loaded.train.flatten(), torch.tensor([0.0, 0.2, 1.0]))
    floats = np.array([[[0.0, 0.25, 1.0]]])
    torch.testing.assert_close(ImageData.from_arrays(floats).train.flatten(), torch.tensor([0.0, 0.25, 1.0]))


def test_binarize_gives_zeros_and_ones_and_a_fixed_generator_repeats():
    x = torch.rand(100, 1, 8, 8)
    a = vae_lite.binarize(x, torch.Generator().manual_seed(3))
    b = vae_lite.binarize(x, torch.Generator().manual_seed(3))
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(a, b)
    assert vae_lite.binarize(torch.ones(3, 1, 2, 2)).min() == 1 and vae_lite.binarize(torch.zeros(3, 1, 2, 2)).max() == 0


# ------------------------------------------------------------------ binarize, for any pixels (hypothesis)


@settings(max_examples=60, derandomize=True, deadline=None, database=None)
@given(arrays(np.float32, st.integers(1, 3000), elements=st.floats(0, 1, width=32)), st.integers(0, 2**31))
def test_binarize_keeps_the_mean_within_5_standard_errors(pixels, seed):
    p = torch.from_numpy(pixels).double()
    b = vae_lite.binarize(torch.from_numpy(pixels), generator=torch.Generator().manual_seed(seed))
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    # the sum of independent Bernoulli(p_i) has variance sum p_i (1 - p_i)
    standard_error = (p * (1 - p)).sum().sqrt().item() / len(p)
    assert abs(b.double().mean().item() - p.mean().item()) <= 5 * standard_error + 1e-12


def test_binarized_test_set_is_the_same_every_time_and_keeps_the_mean(digits):
    x = digits.test
    b = vae_lite.binarized_test_set(digits)
    assert torch.equal(b, vae_lite.binarized_test_set(digits))
    standard_error = (x * (1 - x)).double().sum().sqrt().item() / x.numel()
    assert abs(b.double().mean().item() - x.double().mean().item()) <= 5 * standard_error
    binary = (digits.train > 0.5).float()
    assert torch.equal(vae_lite.binarize(binary), binary)
