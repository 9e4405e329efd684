"""dm's benchmark runner: brings up N sshd hosts, runs every tool's workloads on them, and writes
bench/results.json and BENCHMARKS.md. Started by `bench/run`, which installs what it needs first.

    bench/run                          # everything: N = 10, 50, 100; every tool and workload
    bench/run --sizes 10 --reps 1      # a quick look
    bench/run --tools dm --merge       # re-measure dm only, keep the other figures
    bench/run --smoke                  # the whole pipeline on 3 hosts, figures kept out of the repo
    bench/run --report-only --baseline OLD.json   # BENCHMARKS.md with dm's figures before/after

Runs of one repetition go round the tools in turn, so that a slow minute of the machine does not
land on one tool only. Before every first-run converge, the hosts' workload directories are
emptied (from inside the namespaces, not over SSH); the no-change run follows the same tool's
first run. After each converge the files are checked on every host.
"""

import argparse
import datetime
import json
import signal
import sys
import time
from pathlib import Path

import hosts
import measure
import report
import tools

# A fleet in another slot (DM_BENCH_SLOT) is for trying things: its figures stay out of the repo.
RESULTS = tools.BENCH / "results.json" if hosts.SLOT == 0 else hosts.STATE / "results.json"
TIMEOUT = 1800.0


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10,50,100", help="host counts (default 10,50,100)")
    p.add_argument("--tools", default=",".join(tools.TOOLS), help="tools to measure (default all)")
    p.add_argument("--workloads", default="fanout,converge", help="fanout and/or converge")
    p.add_argument("--reps", type=int, default=5, help="repetitions per figure (default 5)")
    p.add_argument(
        "--slow-reps", default="ansible:converge:50:3,ansible:converge:100:1,pyinfra:converge:100:3",
        help="fewer repetitions where one run takes minutes: TOOL:WORKLOAD:N:REPS,... "
        "(default: %(default)s)",
    )
    p.add_argument("--merge", action="store_true", help="keep figures of results.json not measured now")
    p.add_argument("--report-only", action="store_true", help="regenerate BENCHMARKS.md from results.json")
    p.add_argument(
        "--baseline", metavar="RESULTS_JSON",
        help="an earlier results.json whose dm figures BENCHMARKS.md shows beside the new ones "
        "(before/after a change to dm); with --report-only, or with a run",
    )
    p.add_argument("--baseline-label", default="before", help="what the baseline was (one line)")
    p.add_argument(
        "--smoke", action="store_true",
        help="check the whole pipeline in a minute: 3 hosts, 1 run each; figures go to "
        "/var/cache/dm-bench/smoke.{json,md}, not to the repository",
    )
    return p.parse_args()


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Bench:
    """One benchmark session on a running fleet."""

    def __init__(self, fleet: hosts.Fleet, args: argparse.Namespace, results: dict):
        self.fleet = fleet
        self.args = args
        self.results = results
        self.env = tools.environment()
        self.logs = hosts.STATE / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.slow = {}
        for item in filter(None, args.slow_reps.split(",")):
            tool, workload, n, reps = item.split(":")
            self.slow[(tool, workload, int(n))] = int(reps)

    def reps(self, tool: str, workload: str, n: int) -> int:
        return min(self.args.reps, self.slow.get((tool, workload, n), self.args.reps))

    def once(self, tool: str, workload: str, inv: tools.Inventories, tag: str, json_out: bool = False) -> measure.Sample:
        """Runs one tool once; a failed run stops the benchmark with the tool's output."""
        cmd = tools.command(tool, workload, inv, self.fleet.keys, json=json_out)
        out = self.logs / f"{tool}-{workload}-{inv.n}-{tag}.log"
        sample = measure.run(cmd, self.env, tools.ANCHORS, out, TIMEOUT)
        if sample.returncode != 0:
            tail = out.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{tool} {workload} on {inv.n} hosts failed ({sample.returncode}): {' '.join(cmd)}\n{tail}")
        log(f"{tool:8} {workload:18} N={inv.n:<3} {tag:6} {sample.wall:8.3f} s  {sample.maxrss_kb / 1024:6.1f} MB")
        return sample

    def record(self, tool: str, workload: str, n: int, sample: measure.Sample) -> None:
        key = f"{tool}/{workload}/{n}"
        self.results["runs"].setdefault(key, []).append(
            {"wall": sample.wall, "maxrss_kb": sample.maxrss_kb, "tree_kb": sample.tree_kb, "load": sample.load,
             "at": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
        )

    def verify(self, n: int, tool: str) -> None:
        """Checks on every host that the converge workload's directories and files are there."""
        check = " && ".join(
            f'[ -d /srv/dmbench/d{i:02d} ] && [ "$(cat /srv/dmbench/d{i:02d}/file.txt)" = "dm bench file {i:02d}" ]'
            f' && [ "$(stat -c %a /srv/dmbench/d{i:02d}/file.txt)" = 644 ]'
            for i in range(10)
        )
        for i in range(n):
            done = hosts.sh("nsenter", "-t", str(self.fleet.pids[i]), "-m", "sh", "-c", check, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"after {tool}'s converge, host {hosts.name(i)} lacks the workload's directories or files")

    def size(self, n: int) -> None:
        inv = tools.Inventories(n, hosts.STATE / "work" / str(n))
        inv.write(self.fleet.keys)
        chosen = self.args.tools.split(",")
        workloads = self.args.workloads.split(",")
        measured = {f"{t}/{w}/{n}" for t in chosen for w in tools.WORKLOADS if w.split("-")[0] in workloads}
        self.results["runs"] = {k: v for k, v in self.results["runs"].items() if k not in measured}
        log(f"N={n}: warm-up (one unmeasured fan-out per tool)")
        for tool in chosen:
            self.once(tool, "fanout", inv, "warm")
        if "fanout" in workloads:
            for rep in range(self.args.reps):
                for tool in chosen:
                    if rep < self.reps(tool, "fanout", n):
                        self.record(tool, "fanout", n, self.once(tool, "fanout", inv, f"r{rep + 1}"))
        if "converge" in workloads:
            converging = [t for t in chosen if t != "dm" or tools.dm_converges()]
            for rep in range(self.args.reps):
                for tool in converging:
                    if rep >= self.reps(tool, "converge", n):
                        continue
                    self.fleet.reset(n)
                    self.record(tool, "converge-first", n, self.once(tool, "converge-first", inv, f"r{rep + 1}"))
                    self.verify(n, tool)
                    self.record(tool, "converge-nochange", n, self.once(tool, "converge-nochange", inv, f"r{rep + 1}"))
                    self.verify(n, tool)
        if "dm" in chosen:
            self.dm_round_trips(inv, workloads)

    def dm_round_trips(self, inv: tools.Inventories, workloads: list[str]) -> None:
        """One extra run of dm per workload with --json: SSH round trips per host, and every host ok."""
        runs = ["fanout"] if "fanout" in workloads else []
        if "converge" in workloads and tools.dm_converges():
            self.fleet.reset(inv.n)
            runs += ["converge-first", "converge-nochange"]
        for workload in runs:
            self.once("dm", workload, inv, "json", json_out=True)
            out = self.logs / f"dm-{workload}-{inv.n}-json.log"
            text = out.read_text()
            report_json = json.loads(text[text.index("{"):])
            if report_json["counts"]["ok"] != inv.n:
                raise RuntimeError(f"dm {workload} on {inv.n} hosts: not every host ok: {report_json['counts']}")
            trips = sorted(h["round_trips"] for h in report_json["hosts"])
            self.results["round_trips"][f"{workload}/{inv.n}"] = {"min": trips[0], "max": trips[-1]}


def baseline(path: Path, label: str) -> dict:
    """dm's runs from an earlier results file, to show before/after a change to dm."""
    earlier = json.loads(path.read_text())
    runs = {k: v for k, v in earlier["runs"].items() if k.startswith("dm/")}
    return {"label": label, "dm_version": earlier["versions"]["dm"], "runs": runs}


def main() -> int:
    args = parse()
    if args.report_only:
        results = json.loads(RESULTS.read_text())
        if args.baseline:
            results["baseline"] = baseline(Path(args.baseline), args.baseline_label)
        report.write(results)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    output = RESULTS
    if args.smoke:
        sizes, args.reps, args.merge, output = [3], 1, False, hosts.STATE / "smoke.json"
    results = {"runs": {}, "round_trips": {}}
    if args.merge and output.exists():
        results = json.loads(output.read_text())
    results.update(
        {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": measure.machine(),
            "versions": tools.versions(),
            "settings": tools.SETTINGS,
            "dm_converge": tools.dm_converges(),
            "reps": args.reps,
            "slow_reps": args.slow_reps,
        }
    )
    if args.baseline:
        results["baseline"] = baseline(Path(args.baseline), args.baseline_label)
    fleet = hosts.Fleet(max(sizes))

    def stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    log(f"starting {max(sizes)} hosts")
    fleet.up()
    try:
        bench = Bench(fleet, args, results)
        for n in sizes:
            bench.size(n)
            output.write_text(json.dumps(results, indent=1) + "\n")
    finally:
        log("stopping the hosts")
        fleet.down()
    if output == tools.BENCH / "results.json":
        report.write(results)
        log(f"wrote {output} and {report.OUTPUT}")
    else:
        output.with_suffix(".md").write_text(report.render(results))
        log(f"wrote {output} and {output.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
