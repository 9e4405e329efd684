"""The benchmark's SSH hosts: plain sshd processes, each in its own network and mount namespace.

Every host is one `sshd -D` in a network namespace `dmbench-hNNN` with the address 10.232.0.(9+N),
a veth `dmbvNNN` into the bridge `dmbench0` (10.232.0.1/24). These names and this range are the
benchmark's own: the test harness uses `dmbrN`, `dmN-*` and 10.231.x.x, so both can run at once.

sshd runs in a private mount namespace too, where three tmpfs are mounted before it starts:
- the workload directory (/srv/dmbench), so hosts never share the files the workloads create;
- /root, filled from a stock Debian home (/etc/skel plus the client's authorized key), so the
  controller's own ~/.bashrc (which starts pyenv: +130 ms per command) is never read by a host;
- /tmp, because pyinfra and Ansible put temporary files there under names that are the same on
  every host.
Host keys are generated once and cached, as are the client key and one known_hosts file for all.
Only processes started here are ever killed, by their pid.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

CACHE = Path(os.environ.get("DM_BENCH_CACHE", "/var/cache/dm-bench"))
# A second fleet can run beside the first (e.g. to try a change while a long benchmark runs):
# DM_BENCH_SLOT=1..5 gives it its own names, subnet (10.233.0.0/24 ...) and state directory.
SLOT = int(os.environ.get("DM_BENCH_SLOT", "0"))
if not 0 <= SLOT <= 5:
    raise SystemExit(f"DM_BENCH_SLOT={SLOT}: use 0..5")
STATE = CACHE if SLOT == 0 else CACHE / f"slot{SLOT}"
BRIDGE = f"dmbench{SLOT}"
NETNS_PREFIX = "dmbench-h" if SLOT == 0 else f"dmbench{SLOT}-h"
VETH_PREFIX = "dmbv" if SLOT == 0 else f"dmb{SLOT}v"
PEER_PREFIX = "dmbp" if SLOT == 0 else f"dmb{SLOT}p"
SUBNET = f"10.{232 + SLOT}.0"
WORKDIR = "/srv/dmbench"
LOGIN = "root"
MAX_HOSTS = 200


def address(index: int) -> str:
    """The address of host `index` (0-based)."""
    return f"{SUBNET}.{10 + index}"


def name(index: int) -> str:
    """The name of host `index`, as every tool's inventory calls it."""
    return f"h{index + 1:03d}"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs a command of the host setup; a failure names the command and what it printed."""
    done = subprocess.run(args, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(args)}` failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        )
    return done


class Keys:
    """The cached client key, per-host host keys and the known_hosts file listing them."""

    def __init__(self, count: int):
        self.dir = CACHE / "keys"
        self.client = self.dir / "client_ed25519"
        self.known_hosts = (self.dir if SLOT == 0 else STATE) / "known_hosts"
        self.count = count

    def host_key(self, index: int) -> Path:
        """The private host key file of host `index`."""
        return self.dir / "hosts" / f"{name(index)}_ed25519"

    def ensure(self) -> None:
        """Generates whatever key is missing, and rewrites known_hosts for `count` hosts."""
        (self.dir / "hosts").mkdir(parents=True, exist_ok=True)
        self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        if not self.client.exists():
            sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dm-bench client", "-f", str(self.client))
        lines = []
        for i in range(self.count):
            key = self.host_key(i)
            if not key.exists():
                sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"dm-bench {name(i)}", "-f", str(key))
            public = Path(f"{key}.pub").read_text().split()
            lines.append(f"{address(i)} {public[0]} {public[1]}\n")
        self.known_hosts.write_text("".join(lines))


class Fleet:
    """N sshd hosts; `up()` starts them and waits until every one accepts TCP on port 22,
    `down()` stops them and removes the namespaces and the bridge."""

    def __init__(self, count: int):
        if not 1 <= count <= MAX_HOSTS:
            raise ValueError(f"host count {count} is outside 1..{MAX_HOSTS}")
        self.count = count
        self.keys = Keys(count)
        self.run_dir = STATE / "hosts"
        self.home = STATE / "home"
        self.pids: list[int] = []
        self.procs: list[subprocess.Popen] = []

    # -- setup ---------------------------------------------------------------------------------

    def up(self) -> None:
        """Starts every host; raises (after tearing down what was started) if one does not answer."""
        sweep()
        self.keys.ensure()
        self._stock_home()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        Path(WORKDIR).mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        try:
            sh("ip", "link", "add", BRIDGE, "type", "bridge")
            sh("ip", "addr", "add", f"{SUBNET}.1/24", "dev", BRIDGE)
            sh("ip", "link", "set", BRIDGE, "up")
            for i in range(self.count):
                self._start(i)
            self._wait_listening()
        except BaseException:
            self.down()
            raise

    def _stock_home(self) -> None:
        """A stock Debian home for the login user: /etc/skel and the client's public key."""
        if self.home.exists():
            shutil.rmtree(self.home)
        shutil.copytree("/etc/skel", self.home, symlinks=True)
        ssh_dir = self.home / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        shutil.copy(f"{self.keys.client}.pub", ssh_dir / "authorized_keys")
        os.chmod(ssh_dir / "authorized_keys", 0o600)
        os.chmod(self.home, 0o700)

    def _config(self, i: int) -> Path:
        """sshd's configuration for host `i`: Debian's stock one, except listening address, host
        key, no PAM (no logind or systemd session here) and no pid file."""
        conf = self.run_dir / f"{name(i)}.sshd_config"
        conf.write_text(
            "\n".join(
                [
                    f"ListenAddress {address(i)}",
                    f"HostKey {self.keys.host_key(i)}",
                    "PidFile none",
                    "UsePAM no",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "X11Forwarding yes",
                    "PrintMotd no",
                    "AcceptEnv LANG LC_*",
                    "Subsystem sftp /usr/lib/openssh/sftp-server",
                    "",
                ]
            )
        )
        return conf

    def _start(self, i: int) -> None:
        ns, veth, peer = f"{NETNS_PREFIX}{i + 1:03d}", f"{VETH_PREFIX}{i + 1:03d}", f"{PEER_PREFIX}{i + 1:03d}"
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", peer)
        sh("ip", "link", "set", veth, "master", BRIDGE, "up")
        sh("ip", "link", "set", peer, "netns", ns)
        for cmd in (
            ["ip", "link", "set", "lo", "up"],
            ["ip", "link", "set", peer, "name", "eth0"],
            ["ip", "addr", "add", f"{address(i)}/24", "dev", "eth0"],
            ["ip", "link", "set", "eth0", "up"],
            ["ip", "route", "add", "default", "via", f"{SUBNET}.1"],
        ):
            sh("ip", "netns", "exec", ns, *cmd)
        conf = self._config(i)
        script = (
            "set -e; "
            f"mount -t tmpfs -o mode=0755,size=16m dmbench-work {WORKDIR}; "
            "mount -t tmpfs -o mode=0700,size=16m dmbench-home /root; "
            f"cp -a {self.home}/. /root/; "
            "mount -t tmpfs -o mode=1777,size=64m dmbench-tmp /tmp; "
            f"exec /usr/sbin/sshd -D -e -f {conf}"
        )
        log = open(self.run_dir / f"{name(i)}.log", "wb")
        # `ip netns exec` and `unshare` (without --fork) both exec: the pid started is sshd's.
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append(proc)
        self.pids.append(proc.pid)
        _record_pids(self.pids)

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 20
        waiting = set(range(self.count))
        while waiting:
            for i in sorted(waiting):
                proc = self.procs[i]
                if proc.poll() is not None:
                    log = (self.run_dir / f"{name(i)}.log").read_text(errors="replace")
                    raise RuntimeError(f"sshd of {name(i)} exited ({proc.returncode}): {log.strip()}")
                try:
                    with socket.create_connection((address(i), 22), timeout=0.5) as s:
                        if s.recv(4).startswith(b"SSH-"):
                            waiting.discard(i)
                except OSError:
                    pass
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"hosts {', '.join(name(i) for i in sorted(waiting))} did not answer on port 22 in 20 s")
            if waiting:
                time.sleep(0.1)

    # -- between runs ----------------------------------------------------------------------------

    def in_host(self, i: int, command: str) -> subprocess.CompletedProcess:
        """Runs `command` inside host `i`'s namespaces (not over SSH: no tool's cost)."""
        return sh("nsenter", "-t", str(self.pids[i]), "-m", "-n", "sh", "-c", command)

    def reset(self, count: int) -> None:
        """Empties the workload directory of the first `count` hosts."""
        for i in range(count):
            self.in_host(i, f"find {WORKDIR} -mindepth 1 -delete")

    # -- teardown ------------------------------------------------------------------------------

    def down(self) -> None:
        """Stops the hosts started here (by pid) and removes the namespaces and the bridge."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 5
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()
        self.pids.clear()
        _remove_network()
        _record_pids([])


def _pid_file() -> Path:
    return STATE / "hosts.pids"


def _record_pids(pids: list[int]) -> None:
    """Remembers the pids started, so that a later run can stop hosts a crashed run left."""
    _pid_file().parent.mkdir(parents=True, exist_ok=True)
    _pid_file().write_text("".join(f"{p}\n" for p in pids))


def _remove_network() -> None:
    for ns in sh("ip", "netns", "list", check=False).stdout.split("\n"):
        ns = ns.split(" ")[0]
        if ns.startswith(NETNS_PREFIX):
            sh("ip", "netns", "del", ns, check=False)
    # A veth pair goes away with its namespace only once the last process in it has exited:
    # remove leftover host ends explicitly.
    for line in sh("ip", "-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(": ")
        link = parts[1].split("@")[0] if len(parts) > 1 else ""
        if link.startswith(VETH_PREFIX) or link == BRIDGE:
            sh("ip", "link", "del", link, check=False)


def sweep() -> None:
    """Removes what a crashed earlier run left: its sshd processes (only pids it recorded and whose
    command line is one of ours), then its namespaces and bridge."""
    pid_file = _pid_file()
    if pid_file.exists():
        ours = str(STATE / "hosts") + "/"
        for line in pid_file.read_text().split():
            pid = int(line)
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if ours in cmdline and "sshd" in cmdline:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        _record_pids([])
    _remove_network()
