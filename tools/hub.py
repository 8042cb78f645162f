"""A real JupyterHub on 127.0.0.1 with class/jupyterhub_config.py, and students who use it through
its API: for tests/test_hub.py and benchmarks/hub_load.py.

    with Hub(students=5, notebooks=folder) as hub:      # as root: makes 5 Unix users, starts the hub
        students = hub.log_in_all()                     # the login form, all at once; a token each
        students[0].start()                             # their server, through the hub's REST API
        result = students[0].run_notebook("vae_lite/07_latent_space.ipynb")

The hub runs the class's configuration with a password login in place of PAM (the test has no Unix
passwords), the students' servers in quick mode (VAE_LITE_QUICK=1), and everything in a private
temporary folder. Leaving the `with` block, even on an error, stops the hub (which stops the servers
and the proxy), ends whatever the students' accounts still run, removes their cgroups and deletes
the accounts. While it runs, a process of its own asks the hub's API for the user list every 0.2 s, and
Hub.api_seconds records how long each answer took.
"""

import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import requests
import websocket

from lab import free_port  # tools/lab.py, beside this file

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "class" / "jupyterhub_config.py"
BIN = Path(sys.executable).parent


WATCH_API = """
import sys, time, requests
url, headers = sys.argv[1], {"Authorization": f"token {sys.argv[2]}"}
while True:
    start = time.monotonic()
    try:
        requests.get(url, headers=headers, timeout=10).raise_for_status()
        seconds = time.monotonic() - start
    except requests.RequestException:
        seconds = float("inf")
    print(time.time(), seconds, flush=True)
    time.sleep(0.2)
"""


class HubError(RuntimeError):
    pass


def missing_requirements():
    """Why a hub cannot be run here, or None."""
    if os.geteuid() != 0:
        return "the hub must run as root: it starts each student's server as their own Unix user"
    for tool in ("useradd", "userdel", "setfacl", "configurable-http-proxy"):
        if not shutil.which(tool):
            fix = {"configurable-http-proxy": " (npm install -g configurable-http-proxy@5)",
                   "setfacl": " (apt-get install acl)"}.get(tool, "")
            return f"{tool} is not on PATH{fix}"
    if not (BIN / "jupyterhub").exists():
        return f"jupyterhub is not installed in {BIN.parent} (pip install -e '.[class]')"
    return None


class Hub:
    def __init__(self, students, notebooks, mem_limit="2G", cpu_limit=1, log=None):
        tag = secrets.token_hex(3)  # two hubs of one process, or a leftover of a killed run, never share a name
        self.names = [f"vl{tag}s{i}" for i in range(students)]
        self.notebooks, self.mem_limit, self.cpu_limit = Path(notebooks), mem_limit, cpu_limit
        self.password = secrets.token_urlsafe(16)
        self.admin_token = secrets.token_hex(32)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cgroup_parent = f"vae_lite_hub_test_{tag}"
        # The hub and its proxy run at the default priority, as a service does, even when this process
        # is niced on a shared machine; the students' servers then weigh what half a process of this
        # priority weighs (CFS weights fall by 1.25 per nice step), as in class they weigh half the hub.
        self.cpu_weight = 0.5 / 1.25 ** os.nice(0)
        self.api_seconds = []  # (when, seconds) of each answer of the hub's API
        self.process, self.created, self._monitor, self._watcher, self.opened = None, [], None, None, []
        self.log_path = log

    # ------------------------------------------------------------------ start and stop

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _start(self):
        why = missing_requirements()
        if why:
            raise HubError(why)
        self.folder = Path(tempfile.mkdtemp(prefix="vae_lite_hub_"))  # private: the hub's database and secrets
        self.log_path = Path(self.log_path or self.folder / "jupyterhub.log")
        for name in self.names:
            subprocess.run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name], check=True,
                           capture_output=True)
            self.created.append(name)
        self._open_the_way()
        probe = subprocess.run([sys.executable, "-c", "import vae_lite, torch, jupyterhub"], user=self.names[0],
                               cwd="/", capture_output=True, text=True)
        if probe.returncode:
            raise HubError(f"a student's account cannot run {sys.executable} with vae_lite (is a folder above "
                           f"{ROOT} private?): {probe.stderr.strip().splitlines()[-1:]}")
        config = self.folder / "jupyterhub_config.py"
        config.write_text(f"""
load_subconfig({str(CONFIG)!r})
c.JupyterHub.bind_url = {self.url!r}
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.pid_file = {str(self.folder / 'proxy.pid')!r}
c.JupyterHub.db_url = "sqlite:///{self.folder / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = {str(self.folder / 'cookie_secret')!r}
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {self.password!r}
c.Authenticator.allowed_users = {set(self.names)!r}
c.JupyterHub.services = [{{"name": "observer", "api_token": {self.admin_token!r}}}]
c.JupyterHub.load_roles = [{{"name": "observer", "scopes": ["list:users", "read:users", "read:servers"],
                             "services": ["observer"]}}]
c.ClassSpawner.cgroup_parent = {self.cgroup_parent!r}
c.ClassSpawner.cpu_weight = {self.cpu_weight!r}
c.Spawner.mem_limit = {self.mem_limit!r}
c.Spawner.cpu_limit = {float(self.cpu_limit)!r}
c.Spawner.environment = {{**c.Spawner.environment, "VAE_LITE_QUICK": "1"}}
""")
        env = {**os.environ, "VAE_LITE_CLASS_NOTEBOOKS": str(self.notebooks),
               "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}
        env.pop("VAE_LITE_QUICK", None)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([str(BIN / "jupyterhub"), "-f", str(config)], cwd=self.folder, env=env,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                            preexec_fn=lambda: os.setpriority(os.PRIO_PROCESS, 0, 0))
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise HubError(f"the hub did not start; its log ends:\n{self.log_tail()}")
            time.sleep(0.2)
        # the watcher is a process of its own at the hub's priority: a thread of this (busy, maybe niced)
        # process would time its own waits for a core and for the GIL, not the hub's answers
        self._watcher = subprocess.Popen([sys.executable, "-c", WATCH_API, f"{self.url}/hub/api/users", self.admin_token],
                                         stdout=subprocess.PIPE, text=True, start_new_session=True,
                                         preexec_fn=lambda: os.setpriority(os.PRIO_PROCESS, 0, 0))
        self._monitor = threading.Thread(target=self._watch_api, daemon=True)
        self._monitor.start()

    def _open_the_way(self):
        """The students run this checkout's Python, and it may live in a private folder (pyenv's in
        /root): let the test's accounts, and only them, pass through (x, not read) each folder on the
        way that is closed to others. close() takes it back."""
        targets = [Path(sys.executable).resolve(), ROOT, self.notebooks]
        closed = sorted({d for t in targets for d in [t, *t.parents] if d.is_dir() and not d.stat().st_mode & 0o001})
        for folder in closed:
            had_acl = subprocess.run(["getfacl", "--skip-base", "--absolute-names", str(folder)],
                                     capture_output=True, text=True).stdout.strip() != ""
            entries = ",".join(f"u:{name}:x" for name in self.names)
            subprocess.run(["setfacl", "-m", entries, str(folder)], check=True, capture_output=True)
            self.opened.append((folder, had_acl))

    def _watch_api(self):
        """Read the watcher's lines: the time of each answer of the hub's API, and how long it took."""
        for line in self._watcher.stdout:
            when, seconds = map(float, line.split())
            self.api_seconds.append((when, seconds))

    def log_tail(self, lines=40):
        try:
            return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def close(self):
        """Stop the hub and everything it started; delete the accounts. Safe to call twice."""
        if self._watcher is not None and self._watcher.poll() is None:
            self._watcher.terminate()
            self._watcher.wait()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the hub stops the servers and the proxy, then exits
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for name in self.created:
            uid = pwd.getpwnam(name).pw_uid
            for _ in range(3):  # whatever a student's account still runs was started through this hub
                leftover = [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid]
                for p in leftover:
                    try:
                        p.kill()
                    except psutil.NoSuchProcess:
                        pass
                psutil.wait_procs(leftover, timeout=5)
                if not leftover:
                    break
        for tree in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup/cpu")):
            parent = tree / self.cgroup_parent
            for folder in [parent / name for name in self.created] + [parent]:
                if folder.is_dir():
                    folder.rmdir()
        for folder, had_acl in self.opened:  # back as it was: no ACL at all, or its own entries only
            entries = ",".join(f"u:{name}" for name in self.created)
            subprocess.run(["setfacl", "-x", entries, str(folder)] if had_acl else ["setfacl", "-b", str(folder)],
                           capture_output=True)
        self.opened = []
        for name in self.created:
            subprocess.run(["userdel", "--remove", name], capture_output=True)
            subprocess.run(["groupdel", name], capture_output=True)  # when userdel left the user's group
        self.created = []
        if getattr(self, "folder", None):
            shutil.rmtree(self.folder, ignore_errors=True)

    # ------------------------------------------------------------------ students

    def log_in_all(self):
        """Every student logs in through the login form, all at the same time."""
        with ThreadPoolExecutor(len(self.names)) as pool:
            return list(pool.map(lambda name: Student(self, name).log_in(), self.names))

    def server_process(self, name):
        """The psutil.Process of a student's single-user server."""
        uid = pwd.getpwnam(name).pw_uid
        for p in psutil.process_iter(["uids", "cmdline"]):
            if p.info["uids"] and p.info["uids"].real == uid and any("jupyterhub-singleuser" in a for a in p.info["cmdline"] or []):
                return p
        raise HubError(f"{name} has no server running")

    def cgroup(self, name):
        """The memory cgroup folder of a student's server (cgroup v1 or v2)."""
        for folder in (Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup")):
            if (folder / self.cgroup_parent / name).is_dir():
                return folder / self.cgroup_parent / name
        raise HubError(f"{name} has no cgroup")


class Student:
    def __init__(self, hub, name):
        self.hub, self.name = hub, name
        self.token = None

    @property
    def headers(self):
        return {"Authorization": f"token {self.token}"}

    def log_in(self):
        """The login form, as a browser fills it in; then an API token, asked for with the login cookie
        (as the hub's token page does)."""
        session = requests.Session()
        session.get(f"{self.hub.url}/hub/login", timeout=30).raise_for_status()
        xsrf = session.cookies.get("_xsrf")
        r = session.post(f"{self.hub.url}/hub/login", timeout=30, allow_redirects=False,
                         data={"username": self.name, "password": self.hub.password, "_xsrf": xsrf})
        if r.status_code != 302 or "login" in r.headers.get("Location", "/hub/login"):
            raise HubError(f"{self.name} could not log in: {r.status_code} {r.text[:200]}")
        r = session.post(f"{self.hub.url}/hub/api/users/{self.name}/tokens", json={"note": "test"}, timeout=30,
                         headers={"X-XSRFToken": session.cookies.get("_xsrf", xsrf)})
        r.raise_for_status()
        self.token = r.json()["token"]
        return self

    def api(self, method, path, **kwargs):
        return requests.request(method, f"{self.hub.url}{path}", headers=self.headers, timeout=60, **kwargs)

    def start(self, timeout=300):
        """Start this student's server through the hub's API and wait until it is ready."""
        r = self.api("POST", f"/hub/api/users/{self.name}/server")
        if r.status_code not in (201, 202, 400):  # 400: already running
            raise HubError(f"{self.name}: the hub did not start the server: {r.status_code} {r.text[:300]}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.api("GET", f"/hub/api/users/{self.name}").json().get("servers", {}).get("")
            if server and server.get("ready"):
                return self
            time.sleep(1)  # each question costs the hub a little: 8 students asking twice a second cost it a core
        raise HubError(f"{self.name}'s server was not ready after {timeout} s; the hub's log ends:\n{self.hub.log_tail()}")

    def kernel(self, path):
        """A Kernel of a new session for the notebook at `path` (relative to the student's home)."""
        r = self.api("POST", f"/user/{self.name}/api/sessions",
                     json={"path": path, "name": Path(path).name, "type": "notebook", "kernel": {"name": "python3"}})
        r.raise_for_status()
        session = r.json()
        return Kernel(self, session["id"], session["kernel"]["id"])

    def run_notebook(self, path, timeout=900):
        """Run every code cell of the notebook at `path` in a new kernel, in order, through the
        student's server; return {seconds, cells, error, peak_gb} (peak: the kernel's own high-water mark)."""
        nb = self.api("GET", f"/user/{self.name}/api/contents/{path}").json()["content"]
        cells = [c["source"] for c in nb["cells"] if c["cell_type"] == "code"]
        start, error, ran = time.monotonic(), None, 0
        with self.kernel(path) as kernel:
            for source in cells:
                reply = kernel.execute(source, timeout=timeout)
                if reply["status"] != "ok":
                    error = f"cell {ran}: {reply.get('ename')}: {reply.get('evalue')}"
                    break
                ran += 1
            seconds = time.monotonic() - start
            # the kernel's own high-water mark (VmHWM; ru_maxrss would count its parent's size carried
            # over by fork), and its CPU time with its children's
            used = json.loads(kernel.execute(KERNEL_USAGE)["stdout"])
        return {"seconds": seconds, "cells": len(cells), "ran": ran, "error": error, **used}


KERNEL_USAGE = """
import json, os, re
hwm = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
t = os.times()
print(json.dumps({"peak_gb": hwm * 1024 / 2**30, "cpu_seconds": t.user + t.system + t.children_user + t.children_system}))
"""


class KernelDied(HubError):
    pass


class Kernel:
    """A kernel of a student's server, spoken to over its websocket (Jupyter's messaging protocol)."""

    def __init__(self, student, session_id, kernel_id):
        self.student, self.session_id, self.id = student, session_id, kernel_id
        url = student.hub.url.replace("http", "ws") + f"/user/{student.name}/api/kernels/{kernel_id}/channels"
        self.ws = websocket.create_connection(url, header=[f"Authorization: token {student.token}"], timeout=60)
        self.session = uuid.uuid4().hex

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.ws.close()
        self.student.api("DELETE", f"/user/{self.student.name}/api/sessions/{self.session_id}")

    def execute(self, code, timeout=900):
        """Run `code`; the execute_reply's content with what the cell printed as "stdout".
        KernelDied if the kernel dies before it replies."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": self.student.name, "session": self.session,
                       "msg_type": "execute_request", "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        self.ws.settimeout(timeout)
        stdout, reply, idle = [], None, False
        while reply is None or not idle:
            try:
                frame = self.ws.recv()
            except websocket.WebSocketConnectionClosedException as e:
                raise KernelDied(f"{self.student.name}'s kernel closed its channel") from e
            if isinstance(frame, bytes):  # a message with binary buffers (a widget's picture)
                continue
            msg = json.loads(frame)
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content.get("execution_state") in ("restarting", "dead"):
                raise KernelDied(f"{self.student.name}'s kernel died ({content['execution_state']})")
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if kind == "stream" and content.get("name") == "stdout":
                stdout.append(content["text"])
            elif kind == "execute_reply":
                reply = content
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
        return {**reply, "stdout": "".join(stdout)}
