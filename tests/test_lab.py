"""make lab: JupyterLab listens on this machine only and wants its login token; nothing in the
project switches that protection off.

The server is started with the command `make -n lab` prints (what make would run), so the test
follows the Makefile as it changes.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from lab import free_port, make_lab_command

ROOT = Path(__file__).resolve().parent.parent


def lab_command():
    """The command `make lab` runs to start JupyterLab. This tests the Makefile itself, whose lab runs
    JupyterLab from .venv: skipped when pytest runs from another environment."""
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip(f"tests `make lab`, which runs .venv's JupyterLab; this pytest runs from {sys.prefix}")
    return make_lab_command()


def status(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def listening_sockets(process):
    """The sockets `process` listens on; none if it has exited since it was listed. JupyterLab
    starts short-lived helpers (node runs `yarn config` and `npm prefix -g` as it checks its
    build), and one may end between `children()` and this call."""
    import psutil

    try:
        return [c for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow  # starts JupyterLab
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_listens_on_localhost_only_and_wants_its_token(tmp_path):
    import psutil

    arguments = lab_command()
    for unsafe in ("disable_check_xsrf", "allow_unauthenticated_access", "allow_remote_access", "allow_origin",
                   "password_required"):
        assert unsafe not in " ".join(arguments), f"make lab sets {unsafe}"
    if not ((ROOT / arguments[0]).is_file() or shutil.which(arguments[0])):
        pytest.skip(f"{arguments[0]} is not installed (run make setup)")
    port = free_port()
    arguments += ["--no-browser", f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    environment = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
                   "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_DATA_DIR": str(tmp_path / "data")}
    log = open(tmp_path / "server.log", "w+")
    server = subprocess.Popen(arguments, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=environment,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                anonymous = status(f"{base}/api/contents")
                break
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                assert time.monotonic() < deadline, "JupyterLab did not start within 60 s"
                time.sleep(0.3)
        assert anonymous == 403, f"without the token the server answered {anonymous}, not 403"
        tokens = re.findall(r"[?&]token=([0-9a-f]{16,})", (tmp_path / "server.log").read_text())
        assert tokens, "the server printed no login link with a token"
        assert status(f"{base}/api/contents?token={tokens[0]}") == 200
        assert status(f"{base}/api/contents?token=0{tokens[0][1:]}x") == 403

        listening = {c.laddr.ip for p in [psutil.Process(server.pid), *psutil.Process(server.pid).children(True)]
                     for c in listening_sockets(p)}
        assert listening and listening <= {"127.0.0.1", "::1"}, f"listening on {listening}"
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # its own session: the server and its kernels, nothing else
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


# ------------------------------------------------------------------ settings anywhere in the project

# Text that would switch authentication off or open the server to the network, in a Jupyter
# config file, postBuild, a notebook or a README (this file, which spells them out, is not scanned)
UNSAFE = [
    re.compile(r"token\s*=\s*(''|\"\")"),                        # c.ServerApp.token = '' / --...token=''
    re.compile(r"token=(\s|$)", re.M),                            # --NotebookApp.token= (empty)
    re.compile(r"(Server|Notebook)App\.password\s*=\s*(''|\"\")"),
    re.compile(r"disable_check_xsrf\s*=\s*True"),
    re.compile(r"allow_unauthenticated_access\s*=\s*True"),
    re.compile(r"allow_remote_access\s*=\s*True"),
    re.compile(r"allow_origin\s*=\s*['\"]?\*"),
    re.compile(r"(--ip|\.ip)(\s*=\s*|\s+)['\"]?(0\.0\.0\.0|\*|::)['\"]?(\s|$)", re.M),
]


def project_text_files():
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    for name in listed:
        path = ROOT / name
        if path.suffix in {".png", ".jpg", ".gz", ".pt", ".npz"} or not path.is_file() or path == Path(__file__):
            continue
        try:
            yield name, path.read_text()
        except UnicodeDecodeError:
            continue


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_nothing_in_the_project_turns_authentication_off():
    found = [f"{name}: {match.group(0)!r}" for name, text in project_text_files()
             for pattern in UNSAFE for match in pattern.finditer(text)]
    assert found == [], "authentication or localhost-only switched off in:\n" + "\n".join(found)


def test_the_unsafe_patterns_do_match_unsafe_settings():
    """The scan above can fail: each way of switching protection off is caught."""
    unsafe = ["jupyter lab --ServerApp.token=''", "c.IdentityProvider.token = ''", 'c.ServerApp.token = ""',
              "jupyter lab --NotebookApp.token= --no-browser", "c.ServerApp.disable_check_xsrf = True",
              "--ServerApp.ip=0.0.0.0", "c.ServerApp.ip = '*'", "jupyter lab --ip 0.0.0.0",
              "c.ServerApp.allow_origin = '*'", "c.ServerApp.allow_remote_access = True"]
    for text in unsafe:
        assert any(p.search(text) for p in UNSAFE), text
    safe = ["--IdentityProvider.token={token}", "--ServerApp.ip=127.0.0.1", "token = secrets.token_hex(16)"]
    for text in safe:
        assert not any(p.search(text) for p in UNSAFE), text
