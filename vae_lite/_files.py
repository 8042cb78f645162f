"""Plumbing for files that must never be left half-written: atomic writes, checked downloads.

    atomic_write(path, write)      write a temporary file beside `path`, then rename it into place
    fetch(urls, md5, target)       the first copy whose MD5 is right, saved atomically
    locked(directory)              a file lock: two kernels sharing one cache download once
    file_md5(path)                 the MD5 of a file, computed once per (path, size, mtime)

Nothing here knows about images; vae_lite.data uses it to download data sets and
vae_lite.checkpoint to save models.
"""

import glob
import hashlib
import os
import socket
import tempfile
import urllib.request
from pathlib import Path

DOWNLOAD_TIMEOUT = 10  # seconds per address: an offline laptop should give up quickly


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


_md5_seen = {}


def file_md5(path):
    """The MD5 of the file at `path`; remembered while its size and modification time stay."""
    stat = os.stat(path)
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _md5_seen:
        digest = hashlib.md5()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _md5_seen[key] = digest.hexdigest()
    return _md5_seen[key]


class FetchError(OSError):
    """No address gave a good copy; the message lists what each one answered."""


def fetch(urls, md5, target):
    """Download the first of `urls` whose bytes have MD5 `md5`, and save them at `target`.

    A copy that arrives damaged (wrong MD5, cut off) is never saved; the next address is
    tried. Raises FetchError listing every address and what went wrong there.
    """
    errors = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                payload = response.read()
        except Exception as e:  # any network failure: try the next address
            errors.append(f"{url}: {e}")
            continue
        got = hashlib.md5(payload).hexdigest()
        if got != md5:
            errors.append(f"{url}: MD5 {got} does not match the expected {md5} (the file arrived "
                          "damaged or the mirror changed it; it was not saved)")
            continue
        atomic_write(target, lambda f: f.write(payload))
        return Path(target)
    raise FetchError(f"could not download {Path(target).name}:\n  " + "\n  ".join(errors or ["no address to try"]))


def locked(directory):
    """A lock on `directory` (a file .download.lock in it), shared by every process on the machine."""
    from filelock import FileLock

    return FileLock(str(Path(directory) / ".download.lock"))
