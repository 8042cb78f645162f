"""JupyterHub for a class on one server: `sudo jupyterhub -f class/jupyterhub_config.py`.

Every student is a Unix user with a JupyterLab server of their own, started as that user by a
local process spawner (TEACHING.md, "Running a class", says how to make the accounts):

- Memory and CPU are limited per student by the Linux kernel (cgroups): 2 GB and 1 core. A
  notebook's kernel peaks below 1 GB (benchmarks/README.md), so 2 GB holds the server, one notebook
  and room for a second; a student who goes beyond loses their own kernel, not the class its server.
- At each login the class's notebooks are copied into ~/vae_lite, never over a file that is there:
  the first login gets them all, a later one only the notebooks handed out since. The copy runs as
  the student, so it can write nothing the student could not. Home folders are made private (0700).

nbgitpuller is the usual tool for the copy, but it syncs a git repository, and the repository holds
the solutions: what students get is a build, the student edition (`make student`) or nbgrader's
release (`make assignments`), which no repository serves, and a hub with no network has no remote
to pull from. So the copy is a pre-spawn hook of a few lines.

Environment variables (all optional):
    VAE_LITE_CLASS_NOTEBOOKS   folder to hand out (default: build/student beside this file's checkout)
    VAE_LITE_MEM_LIMIT         memory per student (default 2G)
    VAE_LITE_CPU_LIMIT         cores per student (default 1)

Students log in with their Unix password (PAM) if they are in the group `vae-lite`. Serve the hub
to them through HTTPS: set c.JupyterHub.ssl_cert and ssl_key and bind to a public address, or keep
127.0.0.1 behind a reverse proxy that terminates TLS.
"""

import asyncio
import os
import pwd
import signal
import sys
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Bool, Float, Unicode

c = get_config()  # noqa: F821 (JupyterHub defines it)

CHECKOUT = Path(__file__).resolve().parent.parent
NOTEBOOKS = Path(os.environ.get("VAE_LITE_CLASS_NOTEBOOKS", CHECKOUT / "build" / "student"))
CGROUPS = Path("/sys/fs/cgroup")


def cgroup_limits(name, mem_limit, cpu_limit, weight=0.5, root=CGROUPS, parent="vae_lite_hub"):
    """[(folder, {file: value})]: the cgroups that hold server `name` to mem_limit bytes and cpu_limit
    cores (either may be None: no limit), and the values to write there. When the cores are short,
    the server gets `weight` times the CPU of a process of default priority, such as the hub.
    cgroup v2 (one unified tree, as on systemd machines) or v1 (a memory and a cpu tree); [] when
    neither is there."""
    period = 100_000  # microseconds; the quota is cpu_limit periods' worth of CPU time per period
    memory, cpu = {}, {}
    if (root / "cgroup.controllers").is_file():
        if mem_limit:
            memory = {"memory.max": mem_limit, "memory.swap.max": 0}
        if cpu_limit:
            cpu = {"cpu.max": f"{int(cpu_limit * period)} {period}", "cpu.weight": max(1, round(100 * weight))}
        return [(root / parent / name, {**memory, **cpu})]
    if (root / "memory" / "memory.limit_in_bytes").is_file() and (root / "cpu" / "cpu.cfs_quota_us").is_file():
        if mem_limit:
            memory = {"memory.limit_in_bytes": mem_limit}
            if (root / "memory" / "memory.memsw.limit_in_bytes").is_file():
                memory["memory.memsw.limit_in_bytes"] = mem_limit  # no swap beyond the limit either
        if cpu_limit:
            cpu = {"cpu.cfs_period_us": period, "cpu.cfs_quota_us": int(cpu_limit * period), "cpu.shares": max(2, round(1024 * weight))}
        return [(root / tree / parent / name, values) for tree, values in (("memory", memory), ("cpu", cpu)) if values]
    return []


class ClassSpawner(LocalProcessSpawner):
    """A LocalProcessSpawner whose servers each run in a cgroup of their own, where the kernel
    enforces Spawner.mem_limit and Spawner.cpu_limit for the server and every kernel it starts.
    (LocalProcessSpawner itself only passes the limits on as environment variables.)"""

    cgroup_parent = Unicode("vae_lite_hub", config=True, help="cgroup folder that holds the servers' cgroups")
    require_limits = Bool(True, config=True, help="refuse to start a server whose limits cannot be enforced")
    cpu_weight = Float(0.5, config=True, help="a server's share of a busy CPU against the hub's: the hub keeps answering")

    def cgroups(self):
        return cgroup_limits(self.user.name, self.mem_limit, self.cpu_limit, self.cpu_weight, parent=self.cgroup_parent)

    async def start(self):
        groups = self.cgroups() if self.mem_limit or self.cpu_limit else []
        try:
            for folder, values in groups:
                folder.parent.mkdir(exist_ok=True)
                if (control := folder.parent / "cgroup.subtree_control").is_file():  # v2: let the servers'
                    control.write_text("+memory +cpu")  # cgroups limit memory and cpu
                folder.mkdir(exist_ok=True)
                for file, value in values.items():
                    (folder / file).write_text(str(value))
        except OSError as e:
            groups = []
            self.log.error("cgroups for %s: %s", self.user.name, e)
        if (self.mem_limit or self.cpu_limit) and not groups and self.require_limits:
            raise RuntimeError(
                f"cannot enforce mem_limit and cpu_limit for {self.user.name}: no writable cgroup tree at {CGROUPS}. "
                "Run the hub as root on the machine itself (or in a container given the host's cgroups), "
                "or set c.ClassSpawner.require_limits = False to run without limits.")
        self._procs_files = [str(folder / "cgroup.procs") for folder, _ in groups]
        return await super().start()

    def make_preexec_fn(self, name):
        become_user = super().make_preexec_fn(name)
        procs_files = list(getattr(self, "_procs_files", []))

        def preexec():  # in the new process, still root: join the cgroups, then become the student
            for path in procs_files:
                with open(path, "w") as f:
                    f.write(str(os.getpid()))
            become_user()

        return preexec

    async def stop(self, now=False):
        await super().stop(now=now)
        for folder, _ in self.cgroups():
            if not folder.is_dir():
                continue
            # anything the server left behind (a kernel it could not shut down) is this student's: end it
            for pid in (folder / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for _ in range(50):
                if not (folder / "cgroup.procs").read_text().split():
                    break
                await asyncio.sleep(0.1)
            try:
                folder.rmdir()
            except OSError as e:
                self.log.warning("could not remove the cgroup %s: %s", folder, e)


# The copy runs as the student: a folder of theirs, or a link they made, can only ever send it
# somewhere they could write themselves.
COPY_MISSING = """
import os, shutil, sys
def copy_missing(source, target):
    if not os.path.lexists(target):
        shutil.copy2(source, target)
shutil.copytree(sys.argv[1], sys.argv[2], dirs_exist_ok=True, copy_function=copy_missing)
"""


async def hand_out_notebooks(spawner):
    """Make the student's home private and copy the class's notebooks into ~/vae_lite, file by file,
    each only if it is not there yet."""
    user = pwd.getpwnam(spawner.user.name)
    if user.pw_uid < 1000:
        raise PermissionError(f"{spawner.user.name} is a system account (uid {user.pw_uid}): students need accounts of their own")
    home = Path(user.pw_dir)
    os.chmod(home, 0o700)
    if not NOTEBOOKS.is_dir():
        raise FileNotFoundError(f"no notebooks to hand out at {NOTEBOOKS}: run `make student` (or `make assignments`) "
                                "in the checkout, or set VAE_LITE_CLASS_NOTEBOOKS")
    copy = await asyncio.create_subprocess_exec(
        sys.executable, "-c", COPY_MISSING, str(NOTEBOOKS), str(home / "vae_lite"),
        user=user.pw_uid, group=user.pw_gid, extra_groups=[], cwd=home, env={"HOME": str(home), "PATH": os.defpath},
        stderr=asyncio.subprocess.PIPE)
    _, error = await copy.communicate()
    if copy.returncode:
        raise RuntimeError(f"copying the notebooks to {home / 'vae_lite'} failed: {error.decode()}")


c.JupyterHub.bind_url = "http://127.0.0.1:8000"
c.JupyterHub.spawner_class = ClassSpawner
c.Spawner.pre_spawn_hook = hand_out_notebooks
c.Spawner.mem_limit = os.environ.get("VAE_LITE_MEM_LIMIT", "2G")
c.Spawner.cpu_limit = float(os.environ.get("VAE_LITE_CPU_LIMIT", "1"))
# the single-user server of the hub's own environment, which has vae_lite and torch
c.Spawner.cmd = [str(Path(sys.executable).with_name("jupyterhub-singleuser"))]
c.Spawner.default_url = "/lab/tree/vae_lite"
c.Spawner.notebook_dir = "~"
# torch starts one thread per core of the machine; with a share of one core they only queue
c.Spawner.environment = {"OMP_NUM_THREADS": str(max(1, int(float(os.environ.get("VAE_LITE_CPU_LIMIT", "1")))))}
c.Spawner.start_timeout = 120  # 100 students logging in at 9:00 start their servers together
c.Spawner.http_timeout = 120

# PAM: students log in with their Unix password, if they belong to the group `vae-lite`
c.LocalAuthenticator.allowed_groups = {"vae-lite"}
# c.Authenticator.admin_users = {"teacher"}
