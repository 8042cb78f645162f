"""Fakes for the data tests: tiny IDX data sets, a local download mirror, and a guard that
records file writes."""

import contextlib
import gzip
import hashlib
import http.server
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
