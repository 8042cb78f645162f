"""Serving the notebooks: the command the README gives opens JupyterLab on localhost with a
token, and nothing in the project turns that protection off (issue 6).

The commands are read from README.md and, for `make` targets, from `make -n` (what make
would run), never copied into this file, so the test follows the README and Makefile as
they change.
"""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCAL = {"127.0.0.1", "localhost", "::1"}
JUPYTER = re.compile(r"\bjupyter[- ](lab|notebook|server)\b")


def readme_commands():
    """The shell lines of README.md's ```sh / ```bash / ```console blocks."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:sh|bash|shell|console)\n(.*?)```", text, flags=re.S)
    return [line.strip().removeprefix("$ ") for block in blocks for line in block.splitlines() if line.strip()]


def server_commands():
    """Every command, found through the README, that starts a Jupyter server."""
    found = []
    for line in readme_commands():
        if JUPYTER.search(line):
            found.append(line)
        elif line.startswith("make "):
            dry_run = subprocess.run(["make", "-n", *shlex.split(line)[1:]], cwd=ROOT,
                                     capture_output=True, text=True, timeout=30)
            found += [c for c in dry_run.stdout.splitlines() if JUPYTER.search(c)]
    return found


def option(arguments, *names):
    """Every value given as --name=value or --name value for any of `names`."""
    values = []
    for i, argument in enumerate(arguments):
        for name in names:
            if argument.startswith(f"--{name}="):
                values.append(argument.split("=", 1)[1])
            elif argument == f"--{name}" and i + 1 < len(arguments):
                values.append(arguments[i + 1])
    return values


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@needs_make
def test_the_readme_opens_jupyterlab_on_localhost_with_a_token():
    commands = server_commands()
    assert commands, "README.md gives no command (directly or through make) that starts JupyterLab"
    for command in commands:
        arguments = shlex.split(command)
        for ip in option(arguments, "ip", "ServerApp.ip", "NotebookApp.ip"):  # none: Jupyter's default, localhost
            assert ip in LOCAL, f"{command!r} listens on {ip}, not only on this machine"
        for name in ("token", "ServerApp.token", "NotebookApp.token", "IdentityProvider.token",
                     "password", "ServerApp.password", "NotebookApp.password", "PasswordIdentityProvider.hashed_password"):
            for value in option(arguments, name):
                assert value.strip("'\"") != "", f"{command!r} sets {name} empty: no login"
        joined = " ".join(arguments)
        for unsafe in ("disable_check_xsrf", "allow_unauthenticated_access", "allow_remote_access",
                       "allow_origin", "password_required"):
            assert unsafe not in joined, f"{command!r} sets {unsafe}"


# Text that would switch authentication off or open the server to the network
# (this file, which spells them out, is not scanned)
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


# ------------------------------------------------------------------ the real server

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


@needs_make
def test_the_makefile_server_listens_on_localhost_only_and_wants_its_token(tmp_path):
    """Start the exact command the README's `make lab` would run, on a free port, and probe it."""
    import psutil

    commands = server_commands()
    assert commands, "README.md gives no command that starts JupyterLab"
    arguments = shlex.split(commands[0])
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
                     for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
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
