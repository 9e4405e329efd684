"""The tools measured, and the command line each runs for a workload on N hosts.

Every tool gets the same hosts, the same login (root, the one client key), the same known_hosts
file and parallelism N; everything else is the tool's default. The settings changed are listed in
SETTINGS and printed in BENCHMARKS.md.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import hosts

BENCH = Path(__file__).resolve().parent.parent
REPO = BENCH.parent
ANCHORS = BENCH / "anchors"
VENV = hosts.CACHE / "venv"
DM_BIN = REPO / "target" / "release" / "dm-bench"

TOOLS = ["dm", "fabric", "pyinfra", "ansible"]
WORKLOADS = ["fanout", "converge-first", "converge-nochange"]

SETTINGS = {
    "dm": [
        "`-p N` (dm's default parallel limit is 64)",
        "inventory `dm.toml`: servers, `user = \"root\"`, the client key and the known_hosts file",
        "built with `cargo build --release`",
    ],
    "fabric": [
        "fan-out: `ThreadingGroup(...).run(\"uptime\")` (one thread per host: parallelism N)",
        "converge: a thread pool of N workers, one `Connection` per host (Fabric runs only single "
        "commands on a Group); test-then-act per item, since Fabric has no idempotent operations",
        "the known_hosts file is loaded into each connection (`client.load_host_keys`); "
        "Fabric's AutoAddPolicy stays",
    ],
    "pyinfra": [
        "`--parallel N`",
        "`-y`: without it pyinfra stops at a confirmation prompt; it also skips pyinfra's separate "
        "change-detection pass",
        "inventory data `ssh_user`, `ssh_key`, `ssh_known_hosts_file`",
    ],
    "ansible": [
        "`-f N` (forks; default 5)",
        "fan-out: ad-hoc `ansible all -a uptime` (the default `command` module)",
        "inventory vars `ansible_user`, `ansible_ssh_private_key_file`, "
        "`ansible_ssh_common_args='-o UserKnownHostsFile=...'`",
        "facts are gathered (Ansible's default)",
    ],
}


@dataclass
class Inventories:
    """The inventory files of every tool for the first N hosts, in one directory."""

    n: int
    dir: Path

    def write(self, keys: "hosts.Keys") -> None:
        """Writes dm.toml, hosts.txt (Fabric), inventory.py (pyinfra) and hosts.ini (Ansible)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        addresses = [hosts.address(i) for i in range(self.n)]
        names = [hosts.name(i) for i in range(self.n)]
        dm = [
            "[defaults]",
            f'user = "{hosts.LOGIN}"',
            f'identity_file = "{keys.client}"',
            f'known_hosts = "{keys.known_hosts}"',
            "",
        ]
        for name, address in zip(names, addresses):
            dm += [f"[servers.{name}]", f'address = "{address}"', ""]
        (self.dir / "dm.toml").write_text("\n".join(dm))
        (self.dir / "hosts.txt").write_text("".join(f"{a}\n" for a in addresses))
        data = (
            f'"ssh_user": "{hosts.LOGIN}", "ssh_key": "{keys.client}", '
            f'"ssh_known_hosts_file": "{keys.known_hosts}"'
        )
        (self.dir / "inventory.py").write_text(
            "hosts = [\n" + "".join(f'    ("{a}", {{{data}}}),\n' for a in addresses) + "]\n"
        )
        ini = ["[bench]"]
        ini += [f"{n} ansible_host={a}" for n, a in zip(names, addresses)]
        ini += [
            "",
            "[bench:vars]",
            f"ansible_user={hosts.LOGIN}",
            f"ansible_ssh_private_key_file={keys.client}",
            f"ansible_ssh_common_args='-o UserKnownHostsFile={keys.known_hosts}'",
            "",
        ]
        (self.dir / "hosts.ini").write_text("\n".join(ini))


def command(tool: str, workload: str, inv: Inventories, keys: "hosts.Keys", json: bool = False) -> list[str]:
    """The command line `tool` runs for `workload` (fanout, converge-first, converge-nochange)."""
    n = str(inv.n)
    venv = VENV / "bin"
    converge = workload.startswith("converge")
    if tool == "dm":
        extra = ["--json"] if json else []
        return [str(DM_BIN), "-f", str(inv.dir / "dm.toml"), "-p", n, *extra, "converge" if converge else "uptime"]
    if tool == "fabric":
        script = ANCHORS / ("fabric_converge.py" if converge else "fabric_uptime.py")
        return [str(venv / "python"), str(script), str(inv.dir / "hosts.txt"), str(keys.client), str(keys.known_hosts)]
    if tool == "pyinfra":
        ops = [str(ANCHORS / "pyinfra_converge.py")] if converge else ["exec", "--", "uptime"]
        return [str(venv / "pyinfra"), "-y", "--parallel", n, str(inv.dir / "inventory.py"), *ops]
    if tool == "ansible":
        if converge:
            return [str(venv / "ansible-playbook"), "-i", str(inv.dir / "hosts.ini"), "-f", n, str(ANCHORS / "ansible_converge.yml")]
        return [str(venv / "ansible"), "-i", str(inv.dir / "hosts.ini"), "-f", n, "all", "-a", "uptime"]
    raise ValueError(f"unknown tool {tool}")


def environment() -> dict:
    """The environment every tool runs in: the same for all, and none of the controller's
    version-manager paths (pyenv shims) in PATH."""
    return {
        "PATH": f"{VENV / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LC_ALL": "C.UTF-8",
        "LANG": "C.UTF-8",
        "TERM": "dumb",
    }


def versions() -> dict:
    """The version of every tool, as installed."""
    import subprocess

    def pip_version(package: str) -> str:
        out = subprocess.run([str(VENV / "bin" / "pip"), "show", package], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
        return "?"

    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "dm-core", "dm", "dm-macros", "dm-tasks", "bench/fabfile"],
        capture_output=True, text=True,
    ).stdout.strip()
    py = subprocess.run([str(VENV / "bin" / "python"), "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "dm": f"dm {git.stdout.strip() or '?'}{' with uncommitted changes' if dirty else ''} (release build)",
        "fabric": f"Fabric {pip_version('fabric')} (paramiko {pip_version('paramiko')}), {py}",
        "pyinfra": f"pyinfra {pip_version('pyinfra')}, {py}",
        "ansible": f"ansible-core {pip_version('ansible-core')}, {py}",
    }


def dm_converges() -> bool:
    """Whether the built bench fabfile has the converge task (it needs dm's operations)."""
    import subprocess

    listed = subprocess.run([str(DM_BIN), "--list"], capture_output=True, text=True, env=environment())
    return any(line.split()[:1] == ["converge"] for line in listed.stdout.splitlines())
