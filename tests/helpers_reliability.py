"""Fakes for the data tests: tiny IDX data sets, a local download mirror, a guard that records
file writes, and a child program that downloads as a real process.

Child program:  python tests/helpers_reliability.py download DIR URL MD5S_JSON READY_DIR
    wait for the other child, then load (and download) into DIR
"""

import contextlib
import gzip
import hashlib
import http.server
import json
import os
import struct
import sys
import threading
import time
from pathlib import Path

import numpy as np

IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def idx_bytes(array):
    """The IDX encoding (uncompressed) of a uint8 array: magic 0 0 8 ndim, sizes, values."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def idx_files(n_train=20, n_test=10, image_shape=(6, 5), seed=0):
    """The four .gz files of a tiny MNIST-like data set, as {file name: bytes}."""
    rng = np.random.default_rng(seed)
    arrays = (rng.integers(0, 256, (n_train, *image_shape)), rng.integers(0, 10, n_train),
              rng.integers(0, 256, (n_test, *image_shape)), rng.integers(0, 10, n_test))
    # mtime=0 makes the bytes, hence the MD5s, the same on every run
    return {name: gzip.compress(idx_bytes(a), mtime=0) for name, a in zip(IDX_NAMES, arrays)}


def md5s(files):
    return {name: hashlib.md5(payload).hexdigest() for name, payload in files.items()}


def write_files(directory, files):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        (directory / name).write_bytes(payload)
    return directory


def snapshot(directory):
    """Every path under `directory` with its size and modification time (directories included)."""
    directory = Path(directory)
    entries = {".": directory.stat().st_mtime_ns}
    for path in sorted(directory.rglob("*")):
        stat = path.stat()
        entries[str(path.relative_to(directory))] = (stat.st_size, stat.st_mtime_ns)
    return entries


# ------------------------------------------------------------------ a local "mirror"

class FileServer:
    """Serve {file name: bytes} over HTTP on 127.0.0.1, like a download mirror.

    seconds_per_file: send each file slowly, in 10 pieces over that many seconds.
    cut_off: send only the first half of each file, then close the connection (a download
    cut off half-way), while announcing the full length.
    """

    def __init__(self, files, seconds_per_file=0.0, cut_off=False):
        self.files, self.seconds_per_file, self.cut_off = files, seconds_per_file, cut_off
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append(name)
                payload = server.files.get(name)
                if payload is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if server.cut_off:
                    payload = payload[:len(payload) // 2]
                pieces = 10 if server.seconds_per_file else 1
                size = -(-len(payload) // pieces)
                for start in range(0, len(payload), size):
                    self.wfile.write(payload[start:start + size])
                    self.wfile.flush()
                    time.sleep(server.seconds_per_file / pieces)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


# ------------------------------------------------------------------ recording writes

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_WRITE_EVENTS = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.replace", "os.truncate",
                 "os.chmod", "os.utime", "os.link", "os.symlink", "shutil.rmtree", "shutil.move"}
_recorders = []
_hooks_added = []


def _audit(event, args):
    if not _recorders:
        return
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writing:
            for log in _recorders:
                log.append((event, str(path)))
    elif event in _WRITE_EVENTS:
        for log in _recorders:
            log.append((event, str(args[0]) if args else ""))


@contextlib.contextmanager
def recorded_writes():
    """Collect (event, path) for every file this process opens for writing, creates or removes.

    Built on Python's audit hooks, which see writes whatever the file permissions say
    (the tests run as root, and root may write into a chmod 0o555 folder).
    """
    if _audit not in _hooks_added:
        sys.addaudithook(_audit)  # a hook cannot be removed, so it is added once and switched by _recorders
        _hooks_added.append(_audit)
    log = []
    _recorders.append(log)
    try:
        yield log
    finally:
        _recorders.remove(log)


# ------------------------------------------------------------------ child programs

def _child_download(directory, url, md5s_json, ready_dir):
    """load_dataset('mnist', root=directory) with `url` as the only mirror, at the same moment as a twin."""
    import vae_lite
    import vae_lite.data as data

    os.environ.pop("VAE_LITE_DATA", None)  # only `directory` may hold the files (CI sets this)
    data._cache_dir = lambda: Path(directory) / "no-cache"
    data.search_dirs = lambda name, root=None: [Path(root)]
    data.IDX_FILES["mnist"] = json.loads(md5s_json)
    data.MIRRORS["mnist"] = [url]
    # both children start at the same moment: each announces it is ready, then waits for the other
    ready = Path(ready_dir)
    (ready / str(os.getpid())).touch()
    deadline = time.monotonic() + 30
    while len(list(ready.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    loaded = vae_lite.load_dataset("mnist", root=directory)
    print(json.dumps({"ok": True, "train": loaded.train.sum().item(), "test": loaded.test.sum().item(),
                      "labels": loaded.train_labels.tolist()}))


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    {"download": _child_download}[command](*arguments)
