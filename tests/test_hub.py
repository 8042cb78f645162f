"""A class on JupyterHub, for real on 127.0.0.1: class/jupyterhub_config.py with configurable-http-proxy,
a password login in place of PAM, and the class's spawner (one Unix user per student, cgroup limits).
Five students log in at once, each runs notebook 07 in quick mode through their own server, and none
can reach another's server or files. tools/hub.py starts and stops it all.

Needs root (it makes Unix users, removed afterwards), configurable-http-proxy and setfacl on PATH:
skipped with the reason when they are missing, except in CI (CI=true), where that is a failure.
"""

import http.client
import json
import os
import pwd
import secrets
import stat
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import psutil
import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import hub as class_hub  # noqa: E402
import student  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.hub]

STUDENTS = 5
NOTEBOOK = "07_latent_space"


@pytest.fixture(scope="module")
def notebooks():
    """The student edition of notebook 07, in a folder the students can read."""
    folder = Path(tempfile.mkdtemp(prefix="vae_lite_class_"))
    folder.chmod(0o755)
    student.main([NOTEBOOK[:2], "--out", str(folder)])
    for path in folder.iterdir():
        path.chmod(0o644)
    yield folder
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


def requirements():
    why = class_hub.missing_requirements()
    if why and os.environ.get("CI"):
        pytest.fail(f"the hub test must run in CI, but {why}")
    if why:
        pytest.skip(why)


@pytest.fixture(scope="module")
def hub(notebooks):
    requirements()
    with class_hub.Hub(STUDENTS, notebooks) as running:
        yield running


@pytest.fixture(scope="module")
def students(hub):
    """Every student logs in at the same moment, then starts their server through the hub's API."""
    logged_in = hub.log_in_all()
    with ThreadPoolExecutor(STUDENTS) as pool:
        return list(pool.map(lambda s: s.start(), logged_in))


def test_students_find_the_notebook_in_their_private_home(hub, students):
    for s in students:
        home = Path(pwd.getpwnam(s.name).pw_dir)
        copy = home / "vae_lite" / f"{NOTEBOOK}.ipynb"
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert copy.stat().st_uid == pwd.getpwnam(s.name).pw_uid
        listing = s.api("GET", f"/user/{s.name}/api/contents/vae_lite").json()
        assert [item["name"] for item in listing["content"]] == [f"{NOTEBOOK}.ipynb"]


def test_five_students_run_notebook_07_at_once_within_1_gb_and_the_hub_keeps_answering(hub, students):
    with ThreadPoolExecutor(STUDENTS) as pool:
        results = list(pool.map(lambda s: s.run_notebook(f"vae_lite/{NOTEBOOK}.ipynb"), students))
    for s, result in zip(students, results):
        assert result["error"] is None and result["ran"] == result["cells"] > 10, (s.name, result)
        assert 0.2 < result["peak_gb"] <= 1.0, (s.name, result)
    # the hub's API, asked every 0.2 s since it started: through the logins, the spawns and the runs
    seconds = [s for _, s in hub.api_seconds]
    assert len(seconds) > 20 and max(seconds) < 1.0, f"slowest answer {max(seconds):.2f} s of {len(seconds)}"


def test_each_server_runs_in_its_own_cgroup_with_the_memory_limit(hub, students):
    for s in students:
        group = hub.cgroup(s.name)
        assert hub.server_process(s.name).pid in {int(p) for p in (group / "cgroup.procs").read_text().split()}
        limit = group / ("memory.limit_in_bytes" if (group / "memory.limit_in_bytes").exists() else "memory.max")
        assert int(limit.read_text()) == 2 * 2**30


def raw_request(hub, method, path, token):
    """A request sent exactly as typed, no client tidying the path (`..`, `//`, `%2e`) on the way, and
    any redirect followed with the same token: (status, body, path) of where it ends."""
    connection = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30)
    try:
        connection.request(method, path, headers={"Authorization": f"token {token}"})
        response = connection.getresponse()
        status, body, location = response.status, response.read().decode(errors="replace"), response.getheader("Location")
    finally:
        connection.close()
    if status in (301, 302, 303, 307, 308) and location:
        followed = requests.get(urljoin(f"{hub.url}{path}", location), headers={"Authorization": f"token {token}"}, timeout=30)
        return followed.status_code, followed.text, urlsplit(followed.url).path
    return status, body, path


def test_a_student_cannot_reach_another_students_server_or_files(hub, students):
    a, b = students[0], students[1]
    secret = f"secret of {b.name}: {secrets.token_hex(8)}"
    b.api("PUT", f"/user/{b.name}/api/contents/secret.txt",
          json={"type": "file", "format": "text", "content": secret}).raise_for_status()
    kernels_of_b = b.api("GET", f"/user/{b.name}/api/kernels").json()

    # through the proxy, with A's token, however the URL is typed
    A, B = a.name, b.name
    paths = [f"/user/{B}/api/contents/secret.txt", f"/user/{B}/files/secret.txt", f"/user/{B}/api/contents",
             f"/user/{B}/api/kernels", f"/user/{B}/lab/tree/secret.txt", f"/user/{B.upper()}/api/contents/secret.txt",
             f"/user/{B}//api/contents/secret.txt", f"//user/{B}/api/contents/secret.txt",
             f"/user/{A}/../{B}/api/contents/secret.txt", f"/user/{A}/%2e%2e/{B}/api/contents/secret.txt",
             f"/user/{A}%2f..%2f{B}/api/contents/secret.txt", f"/hub/../user/{B}/api/contents/secret.txt",
             f"/user/{A}/api/contents/..%2f..%2f{B}%2fsecret.txt", f"/user/{A}/api/contents/../../{B}/secret.txt",
             f"/user/{A}/files/..%2f..%2f..%2fhome%2f{B}%2fsecret.txt",
             f"/user/{A}/api/contents/%2e%2e/%2e%2e/%2e%2e/home/{B}/secret.txt",
             f"/user/{A}/api/contents/%2Fhome%2F{B}%2Fsecret.txt", f"/user/{B}/api/contents/secret.txt?token={a.token}"]
    answers = {path: raw_request(hub, "GET", path, a.token) for path in paths}
    assert not [path for path, (_, body, _) in answers.items() if secret in body], answers
    # nothing ends on B's server with an answer, nor anywhere but A's own server or the hub's pages
    assert not [path for path, (status, _, end) in answers.items()
                if status < 400 and not end.startswith((f"/user/{A}/", "/hub/"))], \
        {path: (status, end) for path, (status, _, end) in answers.items()}
    for method, path in [("POST", f"/user/{B}/api/kernels"), ("DELETE", f"/user/{B}/api/contents/secret.txt"),
                         ("POST", f"/hub/api/users/{B}/tokens"), ("DELETE", f"/hub/api/users/{B}/server"),
                         ("GET", f"/hub/api/users/{B}")]:
        status, body, _ = raw_request(hub, method, path, a.token)
        assert status in (403, 404), (method, path, status, body[:200])
    assert b.api("GET", f"/user/{b.name}/api/kernels").json() == kernels_of_b
    assert b.api("GET", f"/user/{b.name}/api/contents/secret.txt").json()["content"] == secret

    # from A's own kernel: B's home, B's server's environment (its token), B's server without a token
    server = hub.server_process(B)
    port = next(c.laddr.port for c in server.net_connections("tcp") if c.status == psutil.CONN_LISTEN)
    probe = f"""
import json, os, urllib.error, urllib.request
tried = {{}}
def attempt(what, action):
    try:
        action()
        tried[what] = "allowed"
    except urllib.error.HTTPError as e:
        tried[what] = f"HTTP {{e.code}}"
    except Exception as e:
        tried[what] = type(e).__name__
attempt("read B's file", lambda: open("/home/{B}/secret.txt").read())
attempt("list B's home", lambda: os.listdir("/home/{B}"))
attempt("read B's kernels' keys", lambda: os.listdir("/home/{B}/.local/share/jupyter/runtime"))
attempt("read B's server's token", lambda: open("/proc/{server.pid}/environ").read())
attempt("signal B's server", lambda: os.kill({server.pid}, 0))
attempt("ask B's server directly", lambda: urllib.request.urlopen("http://127.0.0.1:{port}/user/{B}/api/contents/secret.txt", timeout=10).read())
print(json.dumps(tried))
"""
    with a.kernel("probe.ipynb") as kernel:
        tried = json.loads(kernel.execute(probe, timeout=60)["stdout"])
    assert tried == {"read B's file": "PermissionError", "list B's home": "PermissionError",
                     "read B's kernels' keys": "PermissionError", "read B's server's token": "PermissionError",
                     "signal B's server": "PermissionError", "ask B's server directly": "HTTP 403"}, tried


def test_a_kernel_past_the_memory_limit_is_killed_and_its_server_goes_on(hub, students):
    last = students[-1]
    with last.kernel("greedy.ipynb") as kernel:
        with pytest.raises(class_hub.KernelDied):
            reply = kernel.execute("import numpy as np\nx = np.ones(3 * 2**30 // 8)  # 3 GB, over the 2 GB limit\n"
                                   "print(x.sum())", timeout=120)
            pytest.fail(f"a 3 GB array fitted under the 2 GB limit: {reply}")
    assert last.api("GET", f"/user/{last.name}/api/status").ok
    assert students[0].api("GET", f"/user/{students[0].name}/api/status").ok


def test_leaving_the_hub_on_an_error_stops_everything_and_removes_the_accounts(notebooks):
    requirements()
    acl_before = {folder: os.popen(f"getfacl --absolute-names {folder} 2>/dev/null").read() for folder in ("/root", "/")}
    with pytest.raises(ZeroDivisionError):
        with class_hub.Hub(1, notebooks) as running:
            (one,) = running.log_in_all()
            one.start()
            pids = {running.process.pid, running.server_process(one.name).pid}
            uid, group = pwd.getpwnam(one.name).pw_uid, running.cgroup(one.name)
            1 / 0
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid]
    assert not group.exists() and not running.folder.exists()
    with pytest.raises(KeyError):
        pwd.getpwnam(one.name)
    assert {folder: os.popen(f"getfacl --absolute-names {folder} 2>/dev/null").read() for folder in acl_before} == acl_before
