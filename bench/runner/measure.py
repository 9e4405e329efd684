"""Running one tool once and measuring it: whole-process wall time and peak memory.

Two memory figures, because the anchors are process trees and dm is one process:
- `maxrss_kb`: the largest peak RSS of any single process of the tree (the kernel's ru_maxrss
  from wait4, what `/usr/bin/time -f %M` prints). For dm this is dm itself.
- `tree_kb`: the largest sum of RSS over the whole process tree (the tool, its worker processes
  and its `ssh` children), sampled every 100 ms from /proc. Shared pages count once per process,
  so for forking tools it is an upper bound; short peaks between samples can be missed.
"""

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass
class Sample:
    """One measured run."""

    wall: float
    maxrss_kb: int
    tree_kb: int
    returncode: int
    load: float


def _children(pid: int) -> list[int]:
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except OSError:
            pass
    return found


def _tree_rss_kb(root: int) -> int:
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
        except (OSError, IndexError, ValueError):
            continue
        todo += _children(pid)
    return total


def run(cmd: list[str], env: dict, cwd: Path, log: Path, timeout: float) -> Sample:
    """Runs `cmd` to completion with its output in `log`; kills its process group after `timeout`."""
    load = os.getloadavg()[0]
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                peak[0] = max(peak[0], _tree_rss_kb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, 9))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    maxrss = usage.ru_maxrss  # kilobytes on Linux
    return Sample(wall=wall, maxrss_kb=maxrss, tree_kb=max(peak[0], maxrss), returncode=proc.returncode, load=load)


def machine() -> dict:
    """What the machine is: cores, memory, kernel, OS."""
    def out(*cmd: str) -> str:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.rstrip()

    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    os_name = ""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip('"')
    return {
        "nproc": out("nproc"),
        "cpu": cpu,
        "free": out("free", "-h"),
        "kernel": out("uname", "-srm"),
        "os": os_name,
        "openssh": out("sshd", "-V") or subprocess.run(["sshd", "-V"], capture_output=True, text=True).stderr.strip(),
    }

