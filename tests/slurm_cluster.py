"""Run a real single-node SLURM cluster on this machine for tests.

`LocalSlurm` installs Debian's SLURM 22.05 and MUNGE packages when they are missing,
writes a configuration for one node with a fake GPU, starts munged, slurmctld and slurmd
in the foreground (no systemd), and stops them again by PID. It needs root because
slurmd launches jobs as their owner and the configuration must live at
/etc/slurm/slurm.conf: the SLURM executor plugin's job step drops SLURM_CONF, so
commands inside a job read the default path.

Usage::

    with LocalSlurm() as cluster:
        subprocess.run(["sbatch", "--wrap", "true"], env=cluster.client_env())

Files that already exist in /etc/slurm are copied aside before they are replaced and
copied back on stop. MUNGE runs with its own key and socket under the state directory,
so a system munged and /etc/munge are left alone. A run that was killed before it could
stop leaves its PIDs and the /etc/slurm backup in the state directory, and the next
start stops those daemons and restores the backup first.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

logger = logging.getLogger(__name__)

SLURM_ETC = Path("/etc/slurm")
# The files this module writes into /etc/slurm. cgroup.conf is moved aside because the
# test cluster uses proctrack/linuxproc and task/none, which need no cgroups.
MANAGED_FILES = ("slurm.conf", "gres.conf", "cgroup.conf")
CONFIG_MARKER = "# Written by tests/slurm_cluster.py (LocalSlurm)"

# Commands the cluster needs, with the Debian package that provides each.
REQUIRED_COMMANDS = {
    "munged": "munge",
    "slurmctld": "slurmctld",
    "slurmd": "slurmd",
    "sbatch": "slurm-client",
    "sinfo": "slurm-client",
    "squeue": "slurm-client",
    "scontrol": "slurm-client",
    "scancel": "slurm-client",
}


class LocalSlurmError(RuntimeError):
    """The test cluster failed to start or stop."""


class LocalSlurmUnavailable(LocalSlurmError):
    """A prerequisite is missing: root, apt-get, the Debian packages, or a machine without SLURM daemons."""


def find_command(name: str) -> str | None:
    """Return the path of a command, also looking in the sbin folders that a non-login PATH may lack."""
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/sbin", "/usr/bin"):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def ensure_slurm_installed() -> None:
    """Install slurmctld, slurmd, slurm-client and munge with apt-get if any command is missing.

    Raises LocalSlurmUnavailable when a package is missing and this process is not root,
    has no apt-get, or the installation fails.
    """
    missing = sorted({package for command, package in REQUIRED_COMMANDS.items() if not find_command(command)})
    if not missing:
        return
    if os.geteuid() != 0:
        raise LocalSlurmUnavailable(
            f"the Debian packages {', '.join(missing)} are missing and only root can install them. "
            "Run the tests as root or install them with "
            "`apt-get install --no-install-recommends slurmctld slurmd slurm-client munge`"
        )
    if not find_command("apt-get"):
        raise LocalSlurmUnavailable(
            f"the packages {', '.join(missing)} are missing and apt-get was not found. "
            "The test cluster supports only Debian and Ubuntu"
        )

    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    logger.info("Installing %s with apt-get", " ".join(missing))
    result = subprocess.run(install, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        # A fresh container has no package lists yet, so update once and try again.
        logger.info("apt-get install failed with exit code %d, so running apt-get update and retrying", result.returncode)
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, text=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise LocalSlurmUnavailable(
            f"`{' '.join(install)}` failed with exit code {result.returncode}:\n{result.stderr[-2000:]}"
        )

    still_missing = [command for command in REQUIRED_COMMANDS if not find_command(command)]
    if still_missing:
        raise LocalSlurmUnavailable(f"commands still missing after apt-get install: {', '.join(still_missing)}")


def read_total_memory_mib() -> int:
    """Return MemTotal from /proc/meminfo in MiB, the value that `slurmd -C` reports as RealMemory."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise LocalSlurmError("MemTotal not found in /proc/meminfo")


def is_process_alive(pid: int) -> bool:
    """Return True if `pid` runs and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The state field follows the command name in parentheses.
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def read_cmdline(pid: int) -> list[str]:
    """Return the argument list of `pid`, or an empty list if it has exited."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return [part.decode(errors="replace") for part in cmdline.read().split(b"\0") if part]
    except (FileNotFoundError, ProcessLookupError):
        return []


def read_comm(pid: int) -> str:
    """Return the command name of `pid` (/proc/PID/comm), or "?" if it has exited."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def list_processes_named(name: str) -> list[int]:
    """Return the PIDs of live processes whose command name (/proc/PID/comm) is `name`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        if read_comm(int(entry.name)) == name and is_process_alive(int(entry.name)):
            pids.append(int(entry.name))
    return sorted(pids)


def read_start_ticks(pid: int) -> int | None:
    """Return the start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[19])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


def list_descendants(root_pid: int) -> list[int]:
    """Return the PIDs of all live descendants of `root_pid`, children before grandchildren."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    descendants, frontier = [], [root_pid]
    while frontier:
        frontier = [child for pid in frontier for child in children.get(pid, [])]
        descendants += frontier
    return descendants


def wait_for_exit(pid: int, timeout_s: float) -> bool:
    """Poll until `pid` has exited or `timeout_s` has passed, and return True if it has exited."""
    deadline = time.monotonic() + timeout_s
    while is_process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def signal_and_wait(pid: int, timeout_s: float) -> bool:
    """Send SIGTERM to `pid`, then SIGKILL after `timeout_s`, and return True once it has exited."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        if wait_for_exit(pid, wait_s):
            return True
    return False


class LocalSlurm:
    """A single-node SLURM cluster on this machine, with one fake GPU.

    The node has as many CPUs as this process may run on, RealMemory equal to MemTotal,
    and the GRES `gpu:fake:1` backed by /dev/null, so a job that requests `--gpus=1` or
    `--gres=gpu:1` gets CUDA_VISIBLE_DEVICES=0 without a GPU. There is no accounting
    database, so `sacct` fails and jobs must be polled with squeue. MinJobAge=300 keeps
    finished jobs visible to squeue for 5 minutes.

    `state_dir` contains the MUNGE key, spool folders, logs, pids.json and the /etc/slurm
    backup. start() and stop() delete it, so it must be a folder used for nothing else.
    """

    def __init__(
        self,
        state_dir: Path | str = "/var/tmp/noisedim-test-slurm",
        partition: str = "debug",
        start_timeout_s: float = 60.0,
        stop_timeout_s: float = 20.0,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.partition = partition
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.node_name = socket.gethostname().split(".")[0]
        self.cpus = len(os.sched_getaffinity(0))
        self.real_memory_mb = read_total_memory_mib()
        # Jobs that give no --mem get this many MB per allocated CPU.
        self.default_mem_per_cpu_mb = max(100, min(1000, self.real_memory_mb // (2 * self.cpus)))
        self.pids: dict[str, int] = {}
        self._processes: dict[str, subprocess.Popen] = {}
        self._start_ticks: dict[str, int | None] = {}

    # --------------------------------------------------------------------------------
    # Paths inside the state directory.

    @property
    def munge_socket(self) -> Path:
        return self.state_dir / "munge" / "munge.socket"

    @property
    def backup_dir(self) -> Path:
        return self.state_dir / "etc-slurm-backup"

    @property
    def pid_record(self) -> Path:
        return self.state_dir / "pids.json"

    def log_path(self, daemon: str) -> Path:
        return self.state_dir / "log" / f"{daemon}.log"

    # --------------------------------------------------------------------------------
    # Public interface.

    def __enter__(self) -> LocalSlurm:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> LocalSlurm:
        """Install if needed, write the configuration, start the daemons and wait for an idle node.

        Raises LocalSlurmUnavailable for a missing prerequisite and LocalSlurmError when a
        daemon fails to start. In that case, everything started so far is stopped again.
        """
        if os.geteuid() != 0:
            raise LocalSlurmUnavailable(
                "the test SLURM cluster must run as root: slurmd launches jobs as their owner "
                "and the configuration is written to /etc/slurm/slurm.conf"
            )
        ensure_slurm_installed()
        self._clean_up_previous_run()

        try:
            self._prepare_state_dir()
            self._write_munge_key()
            self._install_config()
            self._start_munged()
            self._start_slurmctld()
            self._start_slurmd()
            self._wait_for_idle_node()
        except BaseException:
            self.stop()
            raise
        logger.info(
            "SLURM test cluster up: node %s, %d CPUs, %d MB, partition %s, PIDs %s",
            self.node_name, self.cpus, self.real_memory_mb, self.partition, self.pids,
        )
        return self

    def stop(self) -> None:
        """Cancel all jobs, stop every daemon this object started, restore /etc/slurm and delete the state.

        Raises LocalSlurmError if a daemon is still alive after SIGKILL. The state directory
        is then kept so that the next start can try again.
        """
        if self.pids.get("slurmctld") and is_process_alive(self.pids["slurmctld"]):
            self._cancel_all_jobs()

        survivors = []
        for daemon in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.get(daemon)
            if pid is None:
                continue
            if not signal_and_wait(pid, self.stop_timeout_s):
                survivors.append(f"{daemon} (PID {pid})")
            process = self._processes.get(daemon)
            if process is not None:
                # Reap the child so that no zombie is left in the process table.
                try:
                    process.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
        if self._start_ticks.get("slurmd") is not None:
            survivors += [f"job process (PID {pid})" for pid in self._stop_step_daemons(self._start_ticks["slurmd"])]

        self._restore_config()
        if survivors:
            raise LocalSlurmError(
                f"still running after SIGKILL: {', '.join(survivors)}. The state directory "
                f"{self.state_dir} is kept, so the next start stops them again"
            )
        self.pids.clear()
        self._processes.clear()
        shutil.rmtree(self.state_dir, ignore_errors=True)
        logger.info("SLURM test cluster stopped")

    def client_env(self) -> dict[str, str]:
        """Return os.environ without SLURM_*, SBATCH_*, SRUN_* and SALLOC_* variables.

        Those variables would point the SLURM commands at another configuration or make
        them act as if they ran inside a job of another cluster.
        """
        prefixes = ("SLURM_", "SBATCH_", "SRUN_", "SALLOC_")
        return {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}

    # --------------------------------------------------------------------------------
    # Start.

    def _clean_up_previous_run(self) -> None:
        """Stop the daemons and jobs of a killed run and restore its /etc/slurm backup.

        Raises LocalSlurmUnavailable if a slurmctld or slurmd that no run of this class
        started is running, before any job process is touched.
        """
        record = json.loads(self.pid_record.read_text()) if self.pid_record.exists() else {}
        self._stop_recorded_daemons(record)
        self._check_no_foreign_daemons()
        slurmd_start_ticks = record.get("slurmd", {}).get("start_ticks")
        if slurmd_start_ticks is not None:
            survivors = self._stop_step_daemons(slurmd_start_ticks)
            if survivors:
                raise LocalSlurmError(f"job processes from an earlier run survived SIGKILL: {survivors}")
        if self.backup_dir.exists():
            self._restore_config()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def _stop_recorded_daemons(self, record: dict) -> None:
        """Stop the daemons listed in the pids.json of an earlier run that are still alive."""
        for daemon in ("slurmd", "slurmctld", "munged"):
            entry = record.get(daemon)
            if entry is None:
                continue
            pid = entry["pid"]
            if not is_process_alive(pid):
                continue
            recorded_ticks = entry.get("start_ticks")
            if read_cmdline(pid) != entry["cmdline"] or (
                recorded_ticks is not None and read_start_ticks(pid) != recorded_ticks
            ):
                continue  # The PID now belongs to another process.
            logger.warning("Stopping %s (PID %d) left over from an earlier run", daemon, pid)
            if not signal_and_wait(pid, self.stop_timeout_s):
                raise LocalSlurmError(f"{daemon} (PID {pid}) from an earlier run survived SIGKILL")

    def _check_no_foreign_daemons(self) -> None:
        """Raise LocalSlurmUnavailable if slurmctld or slurmd runs already, because it would share the ports and /etc/slurm."""
        for daemon in ("slurmctld", "slurmd"):
            pids = list_processes_named(daemon)
            if pids:
                raise LocalSlurmUnavailable(
                    f"{daemon} is already running (PID {', '.join(map(str, pids))}) and was not started "
                    "by this test cluster. Stop it, or run the SLURM tests on a machine without SLURM"
                )

    def _prepare_state_dir(self) -> None:
        for sub in ("munge", "log", "slurmctld", "slurmd"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        # munged rejects a socket folder that other users can write to.
        self.state_dir.chmod(0o755)
        (self.state_dir / "munge").chmod(0o700)

    def _write_munge_key(self) -> None:
        key_path = self.state_dir / "munge" / "munge.key"
        key_path.write_bytes(os.urandom(1024))
        key_path.chmod(0o400)

    def _install_config(self) -> None:
        """Copy the existing /etc/slurm files aside, then write slurm.conf and gres.conf."""
        manifest = {"created_slurm_etc": not SLURM_ETC.exists(), "saved": []}
        SLURM_ETC.mkdir(parents=True, exist_ok=True)
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        for name in MANAGED_FILES:
            path = SLURM_ETC / name
            if path.exists():
                shutil.copy2(path, self.backup_dir / name)
                manifest["saved"].append(name)
                path.unlink()
        (self.backup_dir / "manifest.json").write_text(json.dumps(manifest))

        (SLURM_ETC / "slurm.conf").write_text(self._render_slurm_conf())
        (SLURM_ETC / "gres.conf").write_text(
            f"{CONFIG_MARKER}\n"
            "AutoDetect=off\n"
            f"NodeName={self.node_name} Name=gpu Type=fake File=/dev/null\n"
        )

    def _render_slurm_conf(self) -> str:
        state = self.state_dir
        return f"""{CONFIG_MARKER} for a single-node test cluster.
# The original files are in {self.backup_dir} and are restored on stop.
ClusterName=noisedim-test
SlurmctldHost={self.node_name}(127.0.0.1)
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={state}/slurmctld
SlurmdSpoolDir={state}/slurmd
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={self.log_path("slurmctld")}
SlurmdLogFile={self.log_path("slurmd")}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU={self.default_mem_per_cpu_mb}
# Keep finished jobs in slurmctld for 5 minutes: the executor plugin polls squeue,
# because sacct fails without an accounting database.
MinJobAge=300
ReturnToService=2
KillWait=5
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
GresTypes=gpu
NodeName={self.node_name} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.real_memory_mb} Gres=gpu:fake:1 State=UNKNOWN
PartitionName={self.partition} Nodes={self.node_name} Default=YES MaxTime=INFINITE State=UP
"""

    def _launch(self, daemon: str, command: list[str]) -> None:
        """Start a daemon in the foreground and record its PID in memory and in pids.json."""
        log_file = open(self.log_path(daemon).with_suffix(".stdout"), "ab")
        with log_file:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=self.client_env(),
                # A new session keeps a Ctrl-C in the terminal from reaching the daemons,
                # so that stop() can end them in order.
                start_new_session=True,
            )
        self._processes[daemon] = process
        self.pids[daemon] = process.pid
        self._start_ticks[daemon] = read_start_ticks(process.pid)
        # The command line and start time let a later run check that a recorded PID still
        # belongs to this daemon and has not been reused.
        record = {
            name: {
                "pid": pid,
                "cmdline": list(self._processes[name].args),
                "start_ticks": self._start_ticks[name],
            }
            for name, pid in self.pids.items()
        }
        self.pid_record.write_text(json.dumps(record))
        logger.info("Started %s (PID %d): %s", daemon, process.pid, " ".join(command))

    def _start_munged(self) -> None:
        munge_dir = self.state_dir / "munge"
        self._launch(
            "munged",
            [
                find_command("munged") or "munged",
                "--foreground",
                "--force",
                f"--key-file={munge_dir / 'munge.key'}",
                f"--socket={self.munge_socket}",
                f"--pid-file={munge_dir / 'munged.pid'}",
                f"--seed-file={munge_dir / 'munged.seed'}",
                f"--log-file={self.log_path('munged')}",
            ],
        )
        self._wait_until("munged to create its socket", lambda: self.munge_socket.exists(), "munged")

    def _start_slurmctld(self) -> None:
        # -c starts without the state of an earlier run.
        self._launch("slurmctld", [find_command("slurmctld") or "slurmctld", "-D", "-c"])
        self._wait_until("slurmctld to answer `scontrol ping`", self._slurmctld_answers, "slurmctld")

    def _start_slurmd(self) -> None:
        self._launch("slurmd", [find_command("slurmd") or "slurmd", "-D", "-N", self.node_name])

    def _slurmctld_answers(self) -> bool:
        result = self._run_client(["scontrol", "ping"])
        return result.returncode == 0 and "UP" in result.stdout

    def _node_state(self) -> str:
        result = self._run_client(["sinfo", "--noheader", "--Node", "--nodes", self.node_name, "--format=%T"])
        return result.stdout.strip() if result.returncode == 0 else ""

    def _wait_for_idle_node(self) -> None:
        def node_is_idle() -> bool:
            state = self._node_state()
            if state.startswith(("drain", "invalid", "fail")):
                reason = self._run_client(["sinfo", "--list-reasons", "--noheader"]).stdout.strip()
                raise LocalSlurmError(
                    f"node {self.node_name} is {state} ({reason}). See {self.log_path('slurmd')}"
                )
            return state == "idle"

        self._wait_until(f"node {self.node_name} to become idle in sinfo", node_is_idle, "slurmd")

    def _wait_until(self, description: str, condition, daemon: str) -> None:
        """Poll `condition` every 0.2 s until it is true.

        Raises LocalSlurmError if `daemon` exits first or start_timeout_s passes.
        """
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if condition():
                return
            process = self._processes[daemon]
            if process.poll() is not None:
                raise LocalSlurmError(
                    f"{daemon} exited with code {process.returncode} while waiting for {description}:\n"
                    f"{self._log_tail(daemon)}"
                )
            time.sleep(0.2)
        raise LocalSlurmError(
            f"timed out after {self.start_timeout_s:.0f} s waiting for {description}:\n{self._log_tail(daemon)}"
        )

    def _log_tail(self, daemon: str, lines: int = 20) -> str:
        parts = []
        for path in (self.log_path(daemon), self.log_path(daemon).with_suffix(".stdout")):
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path}\n" + "\n".join(tail))
        return "\n".join(parts) or f"(no log found for {daemon})"

    def _run_client(self, command: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [find_command(command[0]) or command[0], *command[1:]],
            env=self.client_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )

    # --------------------------------------------------------------------------------
    # Stop.

    def _cancel_all_jobs(self) -> None:
        """Cancel every job on the cluster and wait up to stop_timeout_s for the queue to empty.

        Every job belongs to this cluster because start() refuses to run beside another slurmctld.
        """
        def list_active_jobs() -> list[str]:
            return self._run_client(["squeue", "--noheader", "--format=%i"]).stdout.split()

        active = list_active_jobs()
        if not active:
            return
        logger.info("Cancelling SLURM jobs %s", " ".join(active))
        self._run_client(["scancel", *active])
        deadline = time.monotonic() + self.stop_timeout_s
        while active and time.monotonic() < deadline:
            time.sleep(0.5)
            active = list_active_jobs()
        if active:
            logger.warning("SLURM jobs still active %.0f s after scancel: %s", self.stop_timeout_s, " ".join(active))

    def _stop_step_daemons(self, slurmd_start_ticks: int) -> list[int]:
        """Kill the slurmstepd processes of our slurmd and their job processes, and return the PIDs that survive.

        slurmd detaches each slurmstepd, so they are not children of any recorded PID. They
        count as ours when they started after our slurmd did, because start() refuses to
        run beside another slurmd. scancel normally ends them first; this catches the jobs
        of a run that was killed, or that scancel did not end within stop_timeout_s.
        """
        survivors = []
        for step_pid in list_processes_named("slurmstepd"):
            started = read_start_ticks(step_pid)
            if started is None or started < slurmd_start_ticks:
                continue
            # Collect the job processes before their slurmstepd exits and init adopts them.
            targets = [*reversed(list_descendants(step_pid)), step_pid]
            for pid in targets:
                logger.warning("Killing %s (PID %d), a job process of the test cluster", read_comm(pid), pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            survivors += [pid for pid in targets if not wait_for_exit(pid, 5.0)]
        return survivors

    def _restore_config(self) -> None:
        """Put back the /etc/slurm files saved by _install_config, and delete ours where none existed."""
        manifest_path = self.backup_dir / "manifest.json"
        if not manifest_path.exists():
            return
        manifest = json.loads(manifest_path.read_text())
        for name in MANAGED_FILES:
            path = SLURM_ETC / name
            if name in manifest["saved"]:
                shutil.copy2(self.backup_dir / name, path)
            elif path.exists() and path.read_text(errors="replace").startswith(CONFIG_MARKER):
                path.unlink()
        if manifest["created_slurm_etc"] and SLURM_ETC.exists() and not any(SLURM_ETC.iterdir()):
            SLURM_ETC.rmdir()
        manifest_path.unlink()
