"""`make putload`: PUTs with If-Match against builds of the service side by side, interleaved, with where each PUT's
CPU went. The A/B behind the figures of svc/README.md's "Where a PUT's time goes".

`make bench` measures every row once and the targets of two rows as interleaved pairs; this measures one thing, PUT
to 1,000 applications in turn (`put.lua`, the bench's PUT row; with `--one-application`, its row of PUTs to the
configurations of one application), for each of several builds of the service (a clone of
another commit, `--build NAME=PATH` naming its `svc/` folder) and, with `--etcd`, etcd's durable puts, in rounds: each
round runs every side once, in turn, the order turned every round (A B, B A, ...), so that the machine's drift, which
moves two runs a minute apart by a fifth and more on a 2-core VM, moves every side alike. Every service runs from the
start (each one's listener hears the others' writes, as the bench's services do not: compare builds with each other,
not with the bench's rows), each on the same seeded database of its own, with this environment's Python and packages.

Each run's line: PUTs a second, p50 and p99, wrong answers, and the CPU per PUT of the service's processes (its
process group: workers, their publisher and listener threads), of PostgreSQL's processes, and of the whole machine,
with the share of the machine left idle. `--in-memory` adds the first build with its PUTs written in memory
(tools/inmemory.py): what a PUT costs the service itself.

Everything it starts, it stops by PID; it drops its database.
"""

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tools import bench, harness

PROC = Path("/proc")
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Side:
    """One thing loaded: a service (`group`: its process group) or etcd (`etcd`)."""

    name: str
    url: str
    group: int | None = None
    etcd: bool = False
    rates: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return sum(self.rates) / len(self.rates) if self.rates else 0.0


def order(sides: list[Side], round: int) -> list[Side]:
    """The sides in the order round `round` runs them: as given, then reversed, in turn."""
    return list(sides) if round % 2 == 0 else list(reversed(sides))


@dataclass
class Usage:
    """CPU seconds so far: of a process group's processes, of PostgreSQL's, and the machine's busy and idle."""

    group: float
    postgres: float
    busy: float
    idle: float

    def minus(self, before: "Usage") -> "Usage":
        return Usage(self.group - before.group, self.postgres - before.postgres, self.busy - before.busy,
                     self.idle - before.idle)


def usage(group: int | None, proc: Path = PROC) -> Usage:
    """`Usage` now, from `proc` (/proc): utime + stime of each process whose process group is `group`, and of each
    named `postgres`; the machine's from the first line of `stat`."""
    in_group = postgres = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = int(fields[11]) + int(fields[12])
        if group is not None and int(fields[2]) == group:
            in_group += ticks
        if name == "postgres":
            postgres += ticks
    machine = [int(value) for value in (proc / "stat").read_text().splitlines()[0].split()[1:]]
    idle = machine[3] + machine[4]  # idle and iowait
    return Usage(in_group / TICK, postgres / TICK, (sum(machine) - idle) / TICK, idle / TICK)


def line(side: Side, rate: float, p50: float | None, p99: float | None, errors: int, spent: Usage,
         seconds: float) -> str:
    """A run's line: its rate and latencies, and the CPU per PUT of the service, PostgreSQL and the machine."""
    puts = max(rate * seconds, 1.0)
    machine = spent.busy + spent.idle
    service = f"service {1e6 * spent.group / puts:6.1f}  " if side.group is not None else ""
    return (f"{side.name:>12}: {rate:8.0f}/s  p50 {p50 or 0:6.2f} ms  p99 {p99 or 0:7.2f} ms  errors {errors}  "
            f"µs/PUT: {service}postgres {1e6 * spent.postgres / puts:6.1f}  machine {1e6 * spent.busy / puts:6.1f}  "
            f"idle {100 * spent.idle / machine if machine else 0:3.0f}%")


def summary(sides: list[Side]) -> list[str]:
    """Each side's mean rate and its runs', then each against the first side, and against etcd's where it ran."""
    out = [f"{side.name:>12}: mean {side.mean:8.0f}/s  runs {' '.join(f'{rate:.0f}' for rate in side.rates)}"
           for side in sides]
    first = sides[0]
    etcd = next((side for side in sides if side.etcd), None)
    for side in sides:
        parts = []
        if side is not first and first.mean:
            parts.append(f"{side.mean / first.mean:.3f}x {first.name}")
        if etcd is not None and side is not etcd and etcd.mean:
            parts.append(f"{side.mean / etcd.mean:.3f}x etcd")
        if parts:
            out.append(f"{side.name:>12}: " + ", ".join(parts))
    return out


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="putload", description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", action="append", default=[], metavar="NAME=PATH",
                        help="a build of the service: its svc/ folder (default: this one, as 'here')")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=5, help="seconds of each run")
    parser.add_argument("--etcd", action="store_true", help="etcd's durable puts as a side (apt-get install etcd-server)")
    parser.add_argument("--in-memory", action="store_true", help="the first build, its PUTs written in memory")
    parser.add_argument("--one-application", action="store_true",
                        help="PUTs to the configurations of one application (the bench's row of that name)")
    parser.add_argument("--applications", type=int, default=1000)
    parser.add_argument("--configurations", type=int, default=10_000)
    args = parser.parse_args(argv)
    args.builds = [tuple(spec.split("=", 1)) for spec in args.build] or [("here", str(harness.SVC))]
    args.query = bench.PUT_ONE.format(application=bench.app_id(1)) if args.one_application else bench.PUT_SPREAD
    if any(len(build) != 2 or not Path(build[1], "main.py").is_file() for build in args.builds):
        parser.error("--build takes NAME=PATH, PATH a svc/ folder (with main.py)")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    loader = bench.Bench(bench.parse_args(["--duration", str(args.seconds), "--warmup", "2", "--connections",
                                           str(args.connections), "--workers", str(args.workers),
                                           "--applications", str(args.applications),
                                           "--configurations", str(args.configurations)]))
    loader.database = f"config_service_putload_{os.getpid()}"
    loader.url = harness.with_database(loader.url, loader.database)
    sides: list[Side] = []
    try:
        print(f"seeding {loader.database}: {args.applications} applications, {args.configurations} configurations; "
              f"{bench.scheduler()} (svc/README.md, Performance)", flush=True)
        loader.prepare_database()
        commands = [(name, path, "main") for name, path in args.builds]
        if args.in_memory:
            commands.append((f"{args.builds[0][0]}-mem", args.builds[0][1], "tools.inmemory"))
        for name, path, module in commands:
            port = harness.free_port()
            process = harness.start([sys.executable, "-m", module], cwd=path, probe=f"http://127.0.0.1:{port}/health",
                                    log=loader.tmp / f"{name}.log",
                                    env=harness.child_env(DATABASE_URL=loader.url, HOST="127.0.0.1", PORT=str(port),
                                                          WORKERS=str(args.workers), LOG_LEVEL="WARNING"))
            loader.processes.append(process)
            sides.append(Side(name, f"http://127.0.0.1:{port}", group=process.pid))
        if args.etcd:
            loader.etcd()
            if loader.etcd_puts is not None:
                sides.append(Side("etcd", loader.etcd_puts[0], etcd=True))
        bench.published(loader.url)

        def run(side: Side, seconds: int) -> tuple[str, Usage]:
            """One wrk run of `side`: its output, and the CPU spent while it ran. wrk stops with PUTs sent and not
            answered, which still commit: a service's run is followed by a pause, so that the next run, of any
            service, reads the versions once they have (as `Bench._load`)."""
            if side.etcd:
                script, extra = "etcd_put.lua", [loader.etcd_puts[1], "2"]
            else:
                script, extra = "put.lua", [loader.ids_file("put.txt", args.query), "2"]
            before = usage(side.group)
            out = loader._load(side.url, args.connections, script, extra, seconds)
            spent = usage(side.group).minus(before)
            if not side.etcd:
                time.sleep(1)
            return out, spent

        for side in sides:  # warm-up: each side once (a service's first seconds are slower)
            run(side, 2)
        for round in range(args.rounds):
            for side in order(sides, round):
                out, spent = run(side, args.seconds)
                rate, p50, p99, errors = bench.parse_wrk(out)
                side.rates.append(rate)
                print(f"round {round + 1}  " + line(side, rate, p50, p99, errors, spent, args.seconds), flush=True)
        print("\n".join(summary(sides)))
        return 0
    finally:
        loader.close()
        loader.drop_database()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
