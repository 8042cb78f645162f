"""A class on JupyterHub (class/): the one-server configuration run for real, the Kubernetes one checked.

The hub tests run class/jupyterhub_config.py on 127.0.0.1 with configurable-http-proxy, a password
login in place of PAM, and the class's spawner (one Unix user per student, cgroup limits). Five
students log in at once, each runs notebook 07 in quick mode through their own server, and none can
reach another's server or files. Those marked `hub` time the hub's answers under that load, so
`make test` runs them alone, after everything else. tools/hub.py starts and stops it all. They need root (they make
Unix users, removed afterwards), configurable-http-proxy and setfacl on PATH: skipped with the reason
when these are missing, except in CI (CI=true), where that is a failure.

class/values.yaml (Zero to JupyterHub) is not run: no cluster here, and Helm is in no package registry
this project may use, so there is no `helm template` either. Its tests check its structure against the
chart's keys and that it agrees with class/Dockerfile and class/jupyterhub_config.py.
"""

import http.client
import json
import os
import pwd
import secrets
import stat
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import psutil
import pytest
import requests
import yaml
from traitlets.config import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import hub as class_hub  # noqa: E402
import student  # noqa: E402

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


@pytest.mark.slow
@pytest.mark.hub
def test_students_find_the_notebook_in_their_private_home(hub, students):
    for s in students:
        home = Path(pwd.getpwnam(s.name).pw_dir)
        copy = home / "vae_lite" / f"{NOTEBOOK}.ipynb"
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert copy.stat().st_uid == pwd.getpwnam(s.name).pw_uid
        listing = s.api("GET", f"/user/{s.name}/api/contents/vae_lite").json()
        assert [item["name"] for item in listing["content"]] == [f"{NOTEBOOK}.ipynb"]


def kernel_memory_limit_gb():
    """The pod's 1 GB holds a kernel with a CPU build of torch, the class image's (environment.yml). A CUDA
    build, which pip takes from PyPI on Linux, maps about half a gigabyte more of CUDA libraries into every
    kernel even on a machine without a GPU (measured here: 0.71 GB against 1.2 GB for notebook 07)."""
    import torch

    return 1.0 if torch.version.cuda is None else 1.5


@pytest.mark.slow
@pytest.mark.hub
def test_five_students_run_notebook_07_at_once_within_1_gb_and_the_hub_keeps_answering(hub, students):
    with ThreadPoolExecutor(STUDENTS) as pool:
        results = list(pool.map(lambda s: s.run_notebook(f"vae_lite/{NOTEBOOK}.ipynb"), students))
    for s, result in zip(students, results):
        assert result["error"] is None and result["ran"] == result["cells"] > 10, (s.name, result)
        assert 0.2 < result["peak_gb"] <= kernel_memory_limit_gb(), (s.name, result)
    # the hub's API, asked every 0.2 s since it started: through the logins, the spawns and the runs
    seconds = [s for _, s in hub.api_seconds]
    assert len(seconds) > 20 and max(seconds) < 1.0, f"slowest answer {max(seconds):.2f} s of {len(seconds)}"


@pytest.mark.slow
@pytest.mark.hub
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


@pytest.mark.slow
@pytest.mark.hub
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


@pytest.mark.slow
@pytest.mark.hub
def test_a_kernel_past_the_memory_limit_is_killed_and_its_server_goes_on(hub, students):
    last = students[-1]
    with last.kernel("greedy.ipynb") as kernel:
        with pytest.raises(class_hub.KernelDied):
            reply = kernel.execute("import numpy as np\nx = np.ones(3 * 2**30 // 8)  # 3 GB, over the 2 GB limit\n"
                                   "print(x.sum())", timeout=120)
            pytest.fail(f"a 3 GB array fitted under the 2 GB limit: {reply}")
    assert last.api("GET", f"/user/{last.name}/api/status").ok
    assert students[0].api("GET", f"/user/{students[0].name}/api/status").ok


@pytest.mark.slow  # not `hub`: it times nothing, so it runs in make test's parallel pass
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


# ----------------------------------------------------------------------------- the configuration files

CLASS = ROOT / "class"


def load_config():
    """class/jupyterhub_config.py as JupyterHub loads it: (its Config, its module namespace)."""
    config = Config()
    namespace = {"get_config": lambda: config, "__file__": str(CLASS / "jupyterhub_config.py")}
    exec(compile((CLASS / "jupyterhub_config.py").read_text(), "jupyterhub_config.py", "exec"), namespace)
    return config, namespace


def test_the_one_server_config_limits_each_student_and_hands_out_the_student_edition():
    config, namespace = load_config()
    assert config.JupyterHub.spawner_class is namespace["ClassSpawner"]
    assert config.Spawner.mem_limit == "2G" and config.Spawner.cpu_limit == 1
    assert config.Spawner.pre_spawn_hook is namespace["hand_out_notebooks"]
    assert namespace["NOTEBOOKS"] == ROOT / "build" / "student"  # where `make student` writes


def test_cgroup_limits_are_written_for_cgroup_v2_and_v1_and_none_without_cgroups(tmp_path):
    limits = load_config()[1]["cgroup_limits"]
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cgroup.controllers").write_text("cpu memory")
    assert limits("ann", 2**31, 1.0, root=v2) == [
        (v2 / "vae_lite_hub" / "ann", {"memory.max": 2**31, "memory.swap.max": 0, "cpu.max": "100000 100000", "cpu.weight": 50})]
    v1 = tmp_path / "v1"
    for file in ("memory/memory.limit_in_bytes", "memory/memory.memsw.limit_in_bytes", "cpu/cpu.cfs_quota_us"):
        (v1 / file).parent.mkdir(parents=True, exist_ok=True)
        (v1 / file).write_text("")
    assert limits("ann", 2**31, 0.5, weight=0.25, root=v1) == [
        (v1 / "memory" / "vae_lite_hub" / "ann", {"memory.limit_in_bytes": 2**31, "memory.memsw.limit_in_bytes": 2**31}),
        (v1 / "cpu" / "vae_lite_hub" / "ann", {"cpu.cfs_period_us": 100_000, "cpu.cfs_quota_us": 50_000, "cpu.shares": 256})]
    assert limits("ann", 2**31, 1.0, root=tmp_path / "none") == []


def hand_out(command, source, home):
    """Run a hand-out command (a Python one) as it runs at login, on `source`, into home/vae_lite."""
    subprocess.run(command, check=True, cwd=home, env={**os.environ, "HOME": str(home)})
    return {p.name: p.read_text() for p in (home / "vae_lite").iterdir()}


@pytest.fixture
def class_notebooks(tmp_path):
    source, home = tmp_path / "student", tmp_path / "home"
    source.mkdir(), home.mkdir()
    (source / "04.ipynb").write_text("new 04")
    (source / "05.ipynb").write_text("new 05")
    (home / "vae_lite").mkdir()
    (home / "vae_lite" / "04.ipynb").write_text("the student's work on 04")
    return source, home


def test_the_hand_out_at_login_copies_what_is_missing_and_keeps_the_students_work(class_notebooks):
    source, home = class_notebooks
    script = load_config()[1]["COPY_MISSING"]
    assert hand_out([sys.executable, "-c", script, str(source), str(home / "vae_lite")], source, home) == {
        "04.ipynb": "the student's work on 04", "05.ipynb": "new 05"}


# the keys of the Zero to JupyterHub chart (4.x, values.schema.yaml) that class/values.yaml may use
CHART_KEYS = {"cull", "custom", "debug", "enabled", "fullnameOverride", "global", "httpRoute", "hub", "imagePullSecret",
              "imagePullSecrets", "ingress", "nameOverride", "prePuller", "proxy", "rbac", "scheduling", "singleuser"}
SINGLEUSER_KEYS = {"allowPrivilegeEscalation", "cloudMetadata", "cmd", "cpu", "defaultUrl", "events", "extraAnnotations",
                   "extraContainers", "extraEnv", "extraFiles", "extraLabels", "extraNodeAffinity", "extraPodAffinity",
                   "extraPodAntiAffinity", "extraPodConfig", "extraResource", "extraTolerations", "fsGid", "image",
                   "initContainers", "lifecycleHooks", "memory", "networkPolicy", "networkTools", "nodeSelector",
                   "podNameTemplate", "profileList", "serviceAccountName", "startTimeout", "storage", "uid"}


def test_the_kubernetes_values_use_the_charts_keys_and_agree_with_the_one_server_config():
    values = yaml.safe_load((CLASS / "values.yaml").read_text())
    assert set(values) <= CHART_KEYS and set(values["singleuser"]) <= SINGLEUSER_KEYS
    config, _ = load_config()
    user = values["singleuser"]
    assert user["memory"]["limit"] == config.Spawner.mem_limit and user["cpu"]["limit"] == config.Spawner.cpu_limit
    assert user["defaultUrl"] == config.Spawner.default_url
    assert user["extraEnv"] == config.Spawner.environment
    assert user["memory"]["guarantee"] == "1G"  # a kernel's peak, benchmarks/README.md
    assert values["hub"]["config"]["JupyterHub"]["authenticator_class"] not in ("dummy", "null")


def test_the_image_installs_environment_yml_and_holds_the_student_edition_that_the_pod_hands_out(class_notebooks):
    dockerfile = (CLASS / "Dockerfile").read_text()
    assert "COPY --chown=${NB_UID}:${NB_GID} environment.yml /tmp/environment.yml" in dockerfile
    assert "mamba env update --name base --file /tmp/environment.yml" in dockerfile
    assert "python tools/student.py --out /tmp/student" in dockerfile
    assert "COPY --from=student-edition --chown=${NB_UID}:${NB_GID} /tmp/student /opt/vae_lite/student" in dockerfile
    assert "COPY . " not in dockerfile.split("FROM environment\n")[-1], "the final image must not hold the notebooks"
    command = yaml.safe_load((CLASS / "values.yaml").read_text())["singleuser"]["lifecycleHooks"]["postStart"]["exec"]["command"]
    assert '"/opt/vae_lite/student"' in command[-1]
    source, home = class_notebooks
    assert command[0] == "python"  # the image's python; here the one running the tests stands in for it
    local = [sys.executable, *command[1:-1], command[-1].replace('"/opt/vae_lite/student"', repr(str(source)))]
    assert hand_out(local, source, home) == {"04.ipynb": "the student's work on 04", "05.ipynb": "new 05"}
