"""A one-node Slurm with munge on localhost, to run the Slurm profile against a real scheduler.

The tests use `LocalSlurm` directly; by hand (as root):

    python tests/slurm/local_cluster.py up /tmp/slurm      # apt-get if needed, start, print SLURM_CONF
    SLURM_CONF=/tmp/slurm/slurm.conf sinfo
    python tests/slurm/local_cluster.py down /tmp/slurm    # stop the daemons `up` started

Everything (config, munge key and socket, state, logs) lives under one folder; clients find the cluster
through SLURM_CONF, so an existing Slurm or munge installation is left alone.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGES = ("slurm-wlm", "munge")
TOOLS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "sinfo", "scontrol", "scancel")
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


class SlurmUnavailable(RuntimeError):
    """Why Slurm cannot run on this machine; the tests skip with this message."""


def tool(name: str) -> str | None:
    return shutil.which(name, path=SEARCH_PATH)


def install(timeout: float = 600) -> None:
    """apt-get Debian's slurm-wlm and munge when a tool is missing (root only)."""
    missing = [name for name in TOOLS if tool(name) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SlurmUnavailable(f"{', '.join(missing)} not installed, and installing needs root")
    if tool("apt-get") is None:
        raise SlurmUnavailable(f"{', '.join(missing)} not installed, and there is no apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install_cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    run = dict(capture_output=True, text=True, env=env, timeout=timeout)
    result = subprocess.run(install_cmd, **run)
    if result.returncode != 0:  # a fresh machine has empty package lists
        subprocess.run(["apt-get", "update", "-q"], **run)
        result = subprocess.run(install_cmd, **run)
    missing = [name for name in TOOLS if tool(name) is None]
    if result.returncode != 0 or missing:
        raise SlurmUnavailable(
            f"apt-get install {' '.join(PACKAGES)} failed (missing: {', '.join(missing)}):\n"
            f"{(result.stdout + result.stderr)[-2000:]}"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies, so no daemon outlives it."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LocalSlurm:
    """munged, slurmctld and slurmd under `root`, one node with this machine's CPUs and two stand-in GPUs."""

    def __init__(self, root: Path, partition: str = "losstopo", gpus: int = 2, min_memory_mb: int = 32000):
        self.root = Path(root)
        self.partition = partition
        self.gpus = gpus
        self.min_memory_mb = min_memory_mb
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        self.pids_file = self.root / "daemons.json"
        self.bin = self.root / "bin"
        self.env = {
            **os.environ,
            "SLURM_CONF": str(self.conf),
            "PATH": os.pathsep.join([str(self.bin), os.environ.get("PATH", "")]),
        }

    # ---- life cycle
    def start(self, die_with_parent: bool = True, timeout: float = 60) -> None:
        if os.geteuid() != 0:
            raise SlurmUnavailable("slurmd runs jobs as root here, so the tests must run as root")
        try:
            self._write_files()
            munge = self.root / "munge"
            self._spawn(
                "munged",
                [
                    tool("munged"),
                    "-F",
                    "--force",
                    f"--socket={munge / 'munge.socket'}",
                    f"--key-file={munge / 'munge.key'}",
                    f"--pid-file={munge / 'munged.pid'}",
                    f"--seed-file={munge / 'munged.seed'}",
                    f"--log-file={self.root / 'log' / 'munged.log'}",
                ],
                die_with_parent,
            )
            self._wait(lambda: (munge / "munge.socket").exists(), timeout, "munged socket")
            self._spawn("slurmctld", [tool("slurmctld"), "-D", "-f", str(self.conf)], die_with_parent)
            self._spawn("slurmd", [tool("slurmd"), "-D", "-N", self.host, "-f", str(self.conf)], die_with_parent)
            self._wait(self.node_idle, timeout, f"node {self.host} idle in sinfo")
        except (OSError, subprocess.CalledProcessError) as exc:
            self.stop()
            raise SlurmUnavailable(f"starting Slurm failed: {exc}\n{self.log_tails()}") from exc
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 20) -> None:
        """Cancel leftover jobs, then end the daemons this object (or `up`) started, by pid."""
        pids = self._pids()
        if pids.get("slurmctld") and self._alive(pids["slurmctld"], "slurmctld"):
            jobs = self.run(["squeue", "-h", "-o", "%i"], check=False).stdout.split()
            if jobs:
                self.run(["scancel", *jobs], check=False)
        for name in ("slurmd", "slurmctld", "munged"):
            pid = pids.get(name)
            if pid and self._alive(pid, name):
                os.kill(pid, signal.SIGTERM)
                deadline = time.time() + timeout
                while self._alive(pid, name) and time.time() < deadline:
                    self._reap(pid)
                    time.sleep(0.1)
                if self._alive(pid, name):
                    os.kill(pid, signal.SIGKILL)
                self._reap(pid)
        self.pids_file.unlink(missing_ok=True)

    # ---- queries
    def run(self, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [tool(cmd[0]) or cmd[0], *cmd[1:]], capture_output=True, text=True, env=self.env, timeout=30
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr.strip()}\n{self.log_tails()}")
        return result

    def node_idle(self) -> bool:
        out = self.run(["sinfo", "-h", "-N", "-n", self.host, "-o", "%T"], check=False).stdout.split()
        return "idle" in out

    def job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` as a dict (finished jobs stay visible for MinJobAge = 300 s)."""
        line = self.run(["scontrol", "show", "job", "-o", str(job_id)]).stdout
        return dict(re.findall(r"(\w+)=(\S*)", line))

    def log_tails(self, chars: int = 1500) -> str:
        parts = []
        for path in sorted((self.root / "log").glob("*")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)

    # ---- internals
    def _write_files(self) -> None:
        for sub in ("munge", "state", "spool", "log", "bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "munge").chmod(0o755)
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            subprocess.run([tool("mungekey"), "--create", f"--keyfile={key}"], check=True, capture_output=True)
        key.chmod(0o600)
        (self.root / "state").chmod(0o700)
        memory_mb, cpu_layout = self._hardware()
        template = (HERE / "slurm.conf.in").read_text()
        self.conf.write_text(
            template.format(
                root=self.root,
                host=self.host,
                ctld_port=free_port(),
                slurmd_port=free_port(),
                cpu_layout=cpu_layout,
                memory_mb=max(memory_mb, self.min_memory_mb),
                gpus=self.gpus,
                partition=self.partition,
            )
        )
        # Existing character devices stand in for GPUs: Slurm only counts them (no cgroups here).
        devices = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random"][: self.gpus]
        (self.root / "gres.conf").write_text("".join(f"NodeName={self.host} Name=gpu File={d}\n" for d in devices))
        # Inside a job the Slurm jobstep plugin (0.6) strips every SLURM_* variable but the job's identity before
        # calling srun, SLURM_CONF included; a real cluster keeps its config where srun looks without it
        # (/etc/slurm or configless), this one only through SLURM_CONF, so srun gets it back from a wrapper.
        srun = self.bin / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF={shlex.quote(str(self.conf))} exec {tool("srun")} "$@"\n')
        srun.chmod(0o755)

    def _hardware(self) -> tuple[int, str]:
        """RealMemory and the CPU fields of `slurmd -C`, Slurm's own view of this machine."""
        out = subprocess.run([tool("slurmd"), "-C"], capture_output=True, text=True, check=True).stdout
        fields = dict(re.findall(r"(\w+)=(\S+)", out.splitlines()[0]))
        layout = " ".join(
            f"{k}={fields[k]}"
            for k in ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore")
            if k in fields
        )
        return int(fields["RealMemory"]), layout

    def _spawn(self, name: str, cmd: list[str], die_with_parent: bool) -> None:
        log = open(self.root / "log" / f"{name}.out", "ab")
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
            preexec_fn=_die_with_parent if die_with_parent else None,
        )
        log.close()
        pids = self._pids()
        pids[name] = proc.pid
        self.pids_file.write_text(json.dumps(pids))

    def _pids(self) -> dict[str, int]:
        return json.loads(self.pids_file.read_text()) if self.pids_file.exists() else {}

    @staticmethod
    def _alive(pid: int, name: str) -> bool:
        """The pid still runs `name` (a recycled pid belongs to someone else)."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return False
        return Path(cmdline.decode()).name == name and state != "Z"

    @staticmethod
    def _reap(pid: int) -> None:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.time() + timeout
        while not ready():
            if time.time() > deadline:
                raise SlurmUnavailable(f"timed out after {timeout:.0f} s waiting for {what}\n{self.log_tails()}")
            time.sleep(0.3)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("up", "down"):
        print(__doc__, file=sys.stderr)
        return 2
    cluster = LocalSlurm(Path(argv[1]).resolve())
    if argv[0] == "up":
        install()
        cluster.start(die_with_parent=False)
        print(
            f"export SLURM_CONF={cluster.conf} PATH={cluster.bin}:$PATH  # partitions: debug (default), "
            f"{cluster.partition}"
        )
    else:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
