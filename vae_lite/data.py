"""Image datasets as plain tensors: (N, C, H, W), float32, values in [0, 1].

    load_dataset("digits")         8x8 digits shipped with scikit-learn: works offline, always
    load_dataset("mnist")          28x28 handwritten digits, read from the original IDX files
    load_dataset("fashion-mnist")  28x28 clothes, same format
    load_dataset("auto")           MNIST if it is on disk or can be downloaded, else digits
    ImageData.from_arrays(...)     your own images

MNIST-style files are looked for in: `root`, $VAE_LITE_DATA/<name>, the user cache
directory, /usr/share/datasets/<name> (Debian's dataset-fashion-mnist), and only then
downloaded, each file checked against its known MD5 and written atomically.
"""

import glob
import gzip
import hashlib
import os
import socket
import struct
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DATASETS = ("digits", "mnist", "fashion-mnist", "auto")

# file name -> MD5 of the original .gz as published
IDX_FILES = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ],
}
DOWNLOAD_TIMEOUT = 10  # seconds per mirror: an offline laptop should fall back quickly
SYSTEM_DATA_DIR = Path("/usr/share/datasets")  # where Debian's dataset-* packages install
TEST_BINARIZATION_SEED = 0  # one fixed binarized test set, so ELBOs of different runs compare


class DataError(Exception):
    """A data file is missing, damaged or inconsistent; the message says which and what to do."""


@dataclass
class ImageData:
    """A train and a test set of images, with labels when there are any."""

    train: torch.Tensor
    test: torch.Tensor | None = None
    train_labels: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None
    name: str = "images"

    @property
    def image_shape(self):
        return tuple(self.train.shape[1:])

    def __repr__(self):
        test = 0 if self.test is None else len(self.test)
        return f"ImageData({self.name!r}: {len(self.train)} train, {test} test, image_shape={self.image_shape})"

    @classmethod
    def from_arrays(cls, train, test=None, train_labels=None, test_labels=None, name="images"):
        """Your own images: uint8 (0..255) or float (0..1), shaped (N, H, W) or (N, C, H, W)."""
        return cls(
            _as_images(train, "train"),
            None if test is None else _as_images(test, "test"),
            _as_labels(train_labels, train, "train_labels"),
            _as_labels(test_labels, test, "test_labels"),
            name,
        )

    def subset(self, train=None, test=None):
        """The first `train` training and `test` test images (all of them where None)."""
        cut = lambda t, n: t if t is None or n is None else t[:n]
        return ImageData(cut(self.train, train), cut(self.test, test),
                         cut(self.train_labels, train), cut(self.test_labels, test), self.name)


def _as_images(array, what):
    if isinstance(array, torch.Tensor):
        x = array.detach().cpu()
    else:
        array = np.asarray(array)
        if array.dtype.kind not in "biuf":  # strings, objects, complex numbers: not pixel values
            raise ValueError(f"{what} must be uint8 or float numbers, got an array of {array.dtype}")
        x = torch.as_tensor(array)
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4:
        raise ValueError(f"{what} must have shape (N, H, W) or (N, C, H, W); got shape {tuple(x.shape)}")
    if len(x) == 0:
        raise ValueError(f"{what} holds no images")
    if x.dtype == torch.uint8:
        return x.float() / 255
    if x.dtype == torch.bool:
        return x.float()
    if not (x.is_floating_point() or x.dtype in (torch.int16, torch.int32, torch.int64)):
        raise ValueError(f"{what} must be uint8 or float, got {x.dtype}")
    x = x.float()
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} contains NaN or infinite values; clean or drop those images first")
    lo, hi = x.min().item(), x.max().item()
    if lo < 0 or hi > 1:
        raise ValueError(
            f"{what} has values in [{lo:g}, {hi:g}], but images that are not uint8 must lie in [0, 1]; "
            "divide by 255 if they are 0..255, or pass uint8"
        )
    return x.contiguous()


def _as_labels(labels, images, what):
    if labels is None:
        return None
    labels = torch.as_tensor(np.asarray(labels)).long().reshape(-1)
    if images is None or len(labels) != len(images):
        raise ValueError(f"{what} has {len(labels)} labels but there are "
                         f"{0 if images is None else len(images)} images")
    return labels


def binarize(x, generator=None):
    """Sample each pixel as 0 or 1 with probability equal to its intensity.

    Called anew every epoch this is "dynamic binarization"; with a fixed generator it
    gives one "static" binarized copy. Either way the mean intensity is kept.
    """
    return torch.bernoulli(x, generator=generator)


def binarized_test_set(data):
    """The test images binarized once, with a fixed seed, so that every run is scored on the same set."""
    return binarize(data.test, torch.Generator().manual_seed(TEST_BINARIZATION_SEED))


# ---------------------------------------------------------------------------- IDX files

IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Read an IDX file (the MNIST format), gzipped or not, into a numpy array.

    Layout: two zero bytes, a type code, the number of dimensions, each size as a
    big-endian uint32, then the values. Anything else raises DataError naming the file.
    """
    path = Path(path)
    fix = f"delete {path} and load again to fetch a fresh copy"
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path} is damaged or truncated ({e}); {fix}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise DataError(f"{path} is not an IDX file (wrong magic number {raw[:4].hex()}); {fix}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated inside its header; {fix}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(
            f"{path} should hold {expected} bytes of data for shape {shape} but holds "
            f"{len(raw) - header}: it is truncated or damaged; {fix}"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _cache_dir():
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("vae_lite"))
    except ImportError:
        return Path.home() / ".cache" / "vae_lite"


def search_dirs(name, root=None):
    """Where the files of data set `name` are looked for, in order."""
    dirs = []
    if root is not None:
        dirs += [Path(root), Path(root) / name]
    if os.environ.get("VAE_LITE_DATA"):
        dirs.append(Path(os.environ["VAE_LITE_DATA"]) / name)
    dirs += [_cache_dir() / name, SYSTEM_DATA_DIR / name]
    return dirs


def _find(directory, filename):
    for candidate in (directory / filename, directory / filename.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def find_files(name, root=None):
    """The directory holding all four files of `name` and their paths, or None."""
    for directory in search_dirs(name, root):
        paths = [_find(directory, f) for f in IDX_FILES[name]]
        if all(paths):
            return paths
    return None


def md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path, write):
    """Call write(file) on a temporary file next to `path`, then rename it into place.

    A crash or an error part-way leaves no half-written `path` behind. The temporary file
    is named .<name>.<host>.<pid>.<random>.part; if the process is killed (so it cannot
    clean up), the next atomic_write to `path` on this machine deletes the leftover.
    """
    path = Path(path)
    _remove_leftovers(path)
    prefix = f".{path.name}.{_HOST}.{os.getpid()}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            # mkstemp makes the file private (0o600); give it what open() would, so that a
            # checkpoint or a download in a shared folder stays readable by the others
            os.chmod(tmp, 0o666 & ~_UMASK)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _current_umask():
    mask = os.umask(0o022)  # the only portable way to read the umask is to set it and set it back
    os.umask(mask)
    return mask


_UMASK = _current_umask()
_HOST = socket.gethostname()


def _remove_leftovers(path):
    """Delete temporary files of `path` left by processes on this machine that no longer run."""
    if os.name != "posix":  # os.kill(pid, 0) only asks "is it running?" on POSIX
        return
    prefix = f".{path.name}.{_HOST}."
    for leftover in path.parent.glob(glob.escape(prefix) + "*.part"):
        pid = leftover.name[len(prefix):].split(".")[0]
        if pid.isdigit() and not _is_running(int(pid)):
            leftover.unlink(missing_ok=True)


def _is_running(pid):
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _download_file(name, filename, directory):
    expected = IDX_FILES[name][filename]
    errors = []
    for mirror in MIRRORS[name]:
        url = mirror + filename
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                payload = response.read()
        except Exception as e:  # any network failure: try the next mirror
            errors.append(f"{url}: {e}")
            continue
        got = hashlib.md5(payload).hexdigest()
        if got != expected:
            errors.append(f"{url}: MD5 {got} does not match the expected {expected} (the file arrived "
                          "damaged or the mirror changed it; it was not saved)")
            continue
        target = directory / filename
        atomic_write(target, lambda f: f.write(payload))
        return target
    raise DataError(f"could not download {filename}:\n  " + "\n  ".join(errors))


def download(name, directory=None):
    """Download the four files of `name` into `directory` (default: the user cache).

    A file lock makes concurrent downloads (two kernels, one cache) end with one good copy.
    """
    from filelock import FileLock

    directory = Path(directory) if directory is not None else _cache_dir() / name
    directory.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory / ".download.lock")):
        paths = []
        for filename in IDX_FILES[name]:
            existing = _find(directory, filename)  # another process may have fetched it meanwhile
            paths.append(existing or _download_file(name, filename, directory))
        return paths


def _not_found_message(name, root, reason):
    places = "\n".join(f"  {d}" for d in search_dirs(name, root))
    files = ", ".join(IDX_FILES[name])
    debian = "\n  or on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist" if name == "fashion-mnist" else ""
    return (
        f"{name} was not found ({reason}). Looked for {files} in:\n{places}\n"
        f"Fix: copy the four files into one of those folders (or set VAE_LITE_DATA to a folder "
        f"holding a '{name}' folder){debian},\n  or load with download=True while online, "
        f"or use load_dataset('digits'), which works offline."
    )


def _load_idx_dataset(name, root, download_ok):
    paths = find_files(name, root)
    if paths is None:
        if not download_ok:
            raise DataError(_not_found_message(name, root, "download=False"))
        try:
            paths = download(name, root if root is not None else None)
        except (DataError, OSError) as e:
            raise DataError(_not_found_message(name, root, f"download failed: {e}")) from None
    train_x, train_y, test_x, test_y = (read_idx(p) for p in paths)
    for images, labels, ip, lp in ((train_x, train_y, paths[0], paths[1]), (test_x, test_y, paths[2], paths[3])):
        if images.ndim != 3 or labels.ndim != 1:
            raise DataError(f"{ip} should hold images (N, H, W) and {lp} labels (N,); "
                            f"got shapes {images.shape} and {labels.shape}")
        if len(images) != len(labels):
            raise DataError(f"{ip} holds {len(images)} images but {lp} holds {len(labels)} labels; "
                            f"one of them is from another data set or damaged: replace both")
    return ImageData.from_arrays(train_x, test_x, train_y, test_y, name=name)


def _load_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32) / 16  # values are 0..16
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    train, test = order[:1500], order[1500:]
    labels = torch.as_tensor(digits.target)
    return ImageData.from_arrays(images[train], images[test], labels[train], labels[test], name="digits")


def load_dataset(name=None, *, root=None, download=True):
    """Load a data set by name; see the module docstring for names and search places.

    name=None takes $VAE_LITE_DATASET, or "auto" when it is unset: so one variable
    switches every notebook to another data set (e.g. VAE_LITE_DATASET=fashion-mnist).
    """
    if name is None:
        name = os.environ.get("VAE_LITE_DATASET") or "auto"
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}, "
                         "or use ImageData.from_arrays for your own images")
    if name == "digits":
        return _load_digits()
    if name != "auto":
        return _load_idx_dataset(name, root, download)
    try:
        data = _load_idx_dataset("mnist", root, download)
        print(f"load_dataset('auto'): using MNIST ({len(data.train)} training images).")
        return data
    except DataError as e:
        first_line = str(e).splitlines()[0]
        print(f"load_dataset('auto'): using scikit-learn's 8x8 digits, because {first_line}")
        return _load_digits()
