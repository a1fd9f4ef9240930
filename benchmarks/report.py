"""Every scale figure against its goal, in one table ("Prove it holds", part 4).

Runs each benchmark as a subprocess with `--json` (its own process: peak RSS figures stay its own,
and a run that outlives its time is killed with everything it started), reads the figures it prints
and sets them beside their goals: the goal each benchmark prints, the Lambda zip limits that
tests/package checks, and the user-facing goals of benchmarks/server_figures.py. metering_overhead.py
has no `--json`: its summary line is read instead. Each row names the command that reproduces it.
Times are printed, never asserted: the machine may be shared, so a single MISS on a timing figure
says "look", not "broken"; the load average before and after is printed with the table.

    .venv/bin/python benchmarks/report.py [--quick] [--only search,ingest,...] [--max-seconds 7200]

Names for --only: search, ingest, export, inference, lambda, metering, server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
ZIP = ROOT / "build" / "edna-lambda.zip"
MiB = 2**20
ZIPPED_MIB, UNZIPPED_MIB = 50, 250  # Lambda's limits for a zip upload, as tests/package/test_lambda_zip.py checks


@dataclass
class Row:
    figure: str
    measured: str
    goal: str
    verdict: str  # ok, MISS, "-" (no goal), or "not measured: why"
    ref: int = 0  # which command reproduces it


@dataclass
class Bench:
    name: str
    script: str
    args: list[str]
    quick_args: list[str]
    timeout: float  # seconds before the run is killed (full run; a quick run gets a quarter)
    rows: Callable[[dict], list[Row]]
    json: bool = True  # else the rows come from its printed text

    def command(self, quick: bool) -> list[str]:
        return [str(HERE / self.script), *(self.quick_args if quick else self.args)]


def at_most(value: float | None, goal: float) -> str:
    return "not measured" if value is None else "ok" if value <= goal else "MISS"


def at_least(value: float | None, goal: float) -> str:
    return "not measured" if value is None else "ok" if value >= goal else "MISS"


# -- reading each benchmark's figures -------------------------------------------------------------


def search_rows(f: dict) -> list[Row]:
    if not f.get("items"):
        return [Row("search index", "-", "", "not measured: no size was reached (--max-seconds)")]
    at, goal = f"{f['items']:,} items", f["goal_ms"]
    partial = "" if f["complete"] else " (some queries skipped: --max-seconds)"
    return [
        Row(
            f"list p95 at {at} (worst of {f['list_queries']} listings)",
            f"{f['list_p95_ms']:.1f} ms ({f['list_worst']}){partial}",
            f"< {goal:g} ms",
            "ok" if f["list_p95_ms"] < goal else "MISS",
        ),
        Row(
            f"full-text search p95 at {at} (worst of {f['full_text_queries']})",
            f"{f['full_text_p95_ms']:.1f} ms ({f['full_text_worst']}){partial}",
            f"< {goal:g} ms",
            "ok" if f["full_text_p95_ms"] < goal else "MISS",
        ),
    ]


def ingest_rows(f: dict) -> list[Row]:
    goal, rows = f["goal_items_per_s"], []
    for name, shown in (
        ("local: images (thumbnail queued)", "ingest, images (thumbnail queued)"),
        ("local: non-images (CSV/JSON)", "ingest, non-images (CSV/JSON)"),
        ("local: all", "ingest, half and half"),
    ):
        run = f["runs"].get(name)
        if not run or not run["items"]:
            rows.append(Row(shown, "-", f">= {goal:,.0f} items/s", "not measured: no events delivered"))
            continue
        rate, ms = run["items_per_s"], 1000 * run["seconds"] / run["items"]
        measured = f"{rate:,.0f} items/s ({ms:.1f} ms each, {run['items']:,})"
        rows.append(Row(shown, measured, f">= {goal:,.0f} items/s", at_least(rate, goal)))
    base = f["runs"].get("raw index.upsert of the same records (baseline)")
    if base and base["items"]:
        rows.append(Row("  baseline: raw index.upsert, one call each", f"{base['items_per_s']:,.0f} items/s", "-", "-"))
    return rows


def export_rows(f: dict) -> list[Row]:
    goal = f["goal_mb"]
    exports = {fmt: r for fmt, r in f["runs"].items() if fmt != "baseline"}
    worst_fmt = max(exports, key=lambda fmt: exports[fmt]["maxrss_kib"])
    worst = exports[worst_fmt]["maxrss_kib"] / 1024
    each = ", ".join(f"{fmt} {r['maxrss_kib'] / 1024:.0f}" for fmt, r in exports.items())
    early = [fmt for fmt, r in exports.items() if r["stopped_early"]]
    note = f"; stopped early: {', '.join(early)}" if early else ""
    seconds = ", ".join(f"{fmt} {r['seconds']:.1f} s" for fmt, r in exports.items())
    return [
        Row(
            f"export peak RSS at {f['available']:,} items (worst format)",
            f"{worst:.0f} MB ({each}; baseline {f['runs']['baseline']['maxrss_kib'] / 1024:.0f}){note}",
            f"<= {goal:g} MB",
            at_most(worst, goal),
        ),
        Row(f"export time at {f['available']:,} items (no goal)", seconds, "-", "-"),
    ]


def inference_rows(f: dict) -> list[Row]:
    goals, sizes = f["goals"], f["sizes"]
    if not sizes:
        return [Row("streamed inference", "-", "", "not measured: no size finished")]
    span = f"{sizes[0]:,}..{sizes[-1]:,} items"
    growth, ratio = f["streamed_rss_growth"], f["worst_ratio"]
    per_size = ", ".join(f"{int(n):,}: {r:.2f}x" for n, r in f["ratios"].items() if r is not None)
    return [
        Row(
            f"streamed inference peak RSS ({span})",
            f"{f['streamed_peak_rss_mb']:.0f} MB",
            f"<= {goals['rss_mb']} MB",
            at_most(f["streamed_peak_rss_mb"], goals["rss_mb"]),
        ),
        Row(
            f"streamed peak RSS growth ({span})",
            "-" if growth is None else f"{growth:+.1%}",
            f"<= +{goals['rss_growth']:.0%}",
            at_most(growth, goals["rss_growth"]),
        ),
        Row(
            "streamed / in-memory throughput (worst size)",
            "-" if ratio is None else f"{ratio:.2f}x ({per_size})",
            f">= {goals['ratio']}x",
            at_least(ratio, goals["ratio"]),
        ),
    ]


def lambda_rows(f: dict) -> list[Row]:
    rows = zip_rows()
    for case in ("as tested (sqlite, local jobs)", "as deployed (opensearch, mwaa)"):
        c = f["cases"].get(case)
        if c and "error" in c:
            rows.append(
                Row(f"Lambda cold start, {case.split(' (')[0]}", "-", "none stated", f"not measured: {c['error']}")
            )
        elif c:
            measured = (
                f"{c['total_ms']:.0f} ms (import handler {c['import_ms']:.0f} ms, first call {c['first_call_ms']:.0f})"
            )
            rows.append(Row(f"Lambda cold start to first answer, {case.split(' (')[0]}", measured, "none stated", "-"))
    base = f["cases"].get("baseline")
    if base:
        rows.append(Row("  baseline: python -I -c pass", f"{base['total_ms']:.0f} ms", "-", "-"))
    return rows


def zip_rows() -> list[Row]:
    if not ZIP.exists():
        return [Row("Lambda zip size", "-", "", f"not measured: no {ZIP.relative_to(ROOT)}")]
    with zipfile.ZipFile(ZIP) as zf:
        unzipped = sum(i.file_size for i in zf.infolist())
    zipped = ZIP.stat().st_size
    return [
        Row("Lambda zip, zipped", f"{zipped / MiB:.1f} MiB", f"<= {ZIPPED_MIB} MiB", at_most(zipped / MiB, ZIPPED_MIB)),
        Row(
            "Lambda zip, unzipped",
            f"{unzipped / MiB:.1f} MiB",
            f"<= {UNZIPPED_MIB} MiB",
            at_most(unzipped / MiB, UNZIPPED_MIB),
        ),
    ]


def metering_rows(f: dict) -> list[Row]:
    """From metering_overhead.py's printed summary (it has no --json)."""
    found = re.search(r"throughput ([\d.]+)x, metering costs (-?[\d.]+)% of it", f["stdout"])
    if not found:
        return [Row("metering overhead", "-", "<= 5 %", "not measured: its summary line was not found in the output")]
    ratio, cost = float(found[1]), float(found[2])
    return [
        Row(
            "metering overhead (uploads/s, on vs off)",
            f"{cost:.1f} % (on/off {ratio:.3f}x)",
            "<= 5 %",
            at_most(cost, 5),
        )
    ]


def server_rows(f: dict) -> list[Row]:
    goals = f["goals"]

    def row(name: str, figure: str, measured: str) -> Row:
        goal, unit = goals[name]
        return Row(figure, measured, f"<= {goal:g} {unit}", at_most(f[name], goal))

    label_note = f", {f['label_errors']} errors" if f["label_errors"] else ""
    filter_note = f", {f['filter_errors']} errors" if f["filter_errors"] else ""
    listed = f"{f['distinct_listed']:,} of {f['items']:,}"
    rows = [
        row(
            "cold_start_s",
            "server cold start to healthy (median)",
            f"{f['cold_start_s']:.2f} s (" + ", ".join(f"{s:.2f}" for s in f["cold_starts_s"]) + ")",
        ),
        row("idle_rss_mib", "idle server RSS (VmRSS, with children)", f"{f['idle_rss_mib']:.0f} MiB"),
        row("list_all_s", f"list all {f['items']:,} items, pages of 100", f"{f['list_all_s']:.2f} s ({listed})"),
        row("label_p50_ms", "PUT label p50", f"{f['label_p50_ms']:.1f} ms ({f['label_calls']} calls{label_note})"),
        row("label_p95_ms", "PUT label p95", f"{f['label_p95_ms']:.1f} ms"),
        row(
            "filter_p95_ms",
            "one page by label (limit 100) p95",
            f"{f['filter_p95_ms']:.1f} ms (p50 {f['filter_p50_ms']:.1f}{filter_note})",
        ),
        row("export_csv_s", "CSV export of every item", f"{f['export_csv_s']:.2f} s ({f['export_rows']:,} rows)"),
        Row(
            "  baseline: GET /api/health p50 / p95", f"{f['health_p50_ms']:.1f} / {f['health_p95_ms']:.1f} ms", "-", "-"
        ),
    ]
    if f["export_status"] != 200:
        rows[6] = Row(rows[6].figure, "-", rows[6].goal, f"not measured: export answered {f['export_status']}")
    return rows


BENCHES = [
    Bench("search", "search_index.py", ["--sizes", "10000,100000,1000000", "--runs", "200", "--max-seconds", "1800"],
          ["--sizes", "10000,100000", "--runs", "100", "--max-seconds", "600"], 2100, search_rows),
    Bench("ingest", "event_ingest.py", ["--items", "5000", "--s3-items", "0", "--max-seconds", "600"],
          ["--items", "1000", "--s3-items", "0", "--max-seconds", "300"], 900, ingest_rows),
    Bench("export", "export.py", ["--items", "100000", "--max-seconds", "600"],
          ["--items", "20000", "--max-seconds", "300"], 1800, export_rows),
    Bench("inference", "inference.py", ["--sizes", "1000,10000,100000", "--repeat", "3", "--max-seconds", "1800"],
          ["--sizes", "1000,5000", "--repeat", "1", "--max-seconds", "600"], 2100, inference_rows),
    Bench("lambda", "lambda_cold_start.py", ["--runs", "5"], ["--runs", "2"], 1200, lambda_rows),
    Bench("metering", "metering_overhead.py", [], ["--requests", "500", "--repeats", "1", "--max-seconds", "60"],
          900, metering_rows, json=False),
    Bench("server", "server_figures.py", ["--items", "10000", "--max-seconds", "600"],
          ["--items", "2000", "--starts", "1", "--label-calls", "50", "--filter-calls", "30", "--max-seconds", "300"],
          900, server_rows),
]  # fmt: skip


# -- running --------------------------------------------------------------------------------------


def shown(command: list[str]) -> str:
    """The command as a person types it from the repository's root."""
    parts = [str(Path(c).relative_to(ROOT)) if c.startswith(str(ROOT)) else c for c in command]
    return shlex.join([".venv/bin/python", *parts])


def run(command: list[str], timeout: float) -> tuple[str | None, str]:
    """(stdout, why not) of a subprocess in its own process group, killed whole past `timeout`."""
    started = time.monotonic()
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    process = subprocess.Popen([sys.executable, *command], cwd=ROOT, start_new_session=True, **pipes)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group we created: the benchmark and what it started
        process.communicate()
        return None, f"killed after {timeout:.0f} s"
    if process.returncode != 0:
        tail = (err.strip().splitlines() or ["no stderr"])[-1]
        return None, f"exited {process.returncode} after {time.monotonic() - started:.0f} s: {tail[:120]}"
    return out, ""


def measure(bench: Bench, quick: bool, budget: float, ref: int) -> tuple[list[Row], str]:
    """The bench's rows (each pointing at `ref`) and the command line shown for it."""
    if not (HERE / bench.script).exists():
        return [Row(bench.name, "-", "", f"not measured: benchmarks/{bench.script} does not exist", ref)], ""
    command = bench.command(quick)
    timeout = min(bench.timeout / (4 if quick else 1), budget)
    if timeout < 30:
        return [Row(bench.name, "-", "", "not measured: report --max-seconds reached", ref)], shown(command)
    if bench.name == "lambda" and not ZIP.exists():
        print("[lambda] no build/edna-lambda.zip: make package", file=sys.stderr, flush=True)
        built = subprocess.run(["make", "package"], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        if built.returncode != 0:
            return [Row("Lambda zip", "-", "", f"not measured: make package failed: {built.stderr[-120:]}", ref)], ""
    print(f"[{bench.name}] {shown(command)}  (killed after {timeout:.0f} s)", file=sys.stderr, flush=True)
    started = time.monotonic()
    out, why = run([*command, "--json"] if bench.json else command, timeout)
    print(f"[{bench.name}] {time.monotonic() - started:.0f} s {why}", file=sys.stderr, flush=True)
    if out is None:
        return [Row(bench.name, "-", "", f"not measured: {why}", ref)], shown(command)
    try:
        figures = json.loads(out.strip().splitlines()[-1]) if bench.json else {"stdout": out}
        rows = bench.rows(figures)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        rows = [Row(bench.name, "-", "", f"not measured: unreadable output ({type(exc).__name__}: {exc})")]
    for r in rows:
        r.ref = ref
    return rows, shown(command)


def table(rows: list[Row]) -> list[str]:
    width = [max(len(r.figure) for r in rows), max(len(r.measured) for r in rows), max(len(r.goal) for r in rows)]
    head = f"{'figure':{width[0]}} | {'measured':{width[1]}} | {'goal':{width[2]}} | verdict | cmd"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.figure:{width[0]}} | {r.measured:{width[1]}} | {r.goal:{width[2]}} | {r.verdict:7} | [{r.ref}]"
        )
    return lines


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer runs: a sanity run")
    parser.add_argument("--only", help="comma-separated: " + ",".join(b.name for b in BENCHES))
    parser.add_argument("--max-seconds", type=float, default=7200.0, help="for the whole report")
    args = parser.parse_args()
    names = [b.name for b in BENCHES]
    only = args.only.split(",") if args.only else names
    unknown = set(only) - set(names)
    if unknown:
        parser.error(f"unknown names {sorted(unknown)}; choose from {','.join(names)}")
    end = time.monotonic() + args.max_seconds
    before, started = load(), time.monotonic()
    rows: list[Row] = []
    commands: list[str] = []
    for bench in (b for b in BENCHES if b.name in only):
        found, command = measure(bench, args.quick, end - time.monotonic(), len(commands) + 1)
        rows += found
        commands.append(command or f"benchmarks/{bench.script}")

    print(f"Edna scale figures{' (--quick: smaller sizes than the goals name)' if args.quick else ''}; "
          f"{time.monotonic() - started:.0f} s; before: {before}; after: {load()}")  # fmt: skip
    print("Times come from a shared machine: a timing MISS means measure again alone before blaming the code.")
    print()
    print("\n".join(table(rows)))
    print()
    for n, command in enumerate(commands, 1):
        print(f"[{n}] {command}")
    misses = [r for r in rows if r.verdict == "MISS"]
    unmeasured = [r for r in rows if r.verdict.startswith("not measured")]
    print()
    print(f"MISS ({len(misses)}):" + ("" if misses else " none"))
    for r in misses:
        print(f"  {r.figure}: {r.measured} (goal {r.goal}) [{r.ref}]")
    if unmeasured:
        print(f"not measured ({len(unmeasured)}):")
        for r in unmeasured:
            print(f"  {r.figure}: {r.verdict.removeprefix('not measured: ')} [{r.ref}]")
    again = ["benchmarks/report.py", *(["--quick"] if args.quick else [])]
    again += [*(["--only", args.only] if args.only else []), "--max-seconds", f"{args.max_seconds:g}"]
    print(f"\nreproduce: {shlex.join(['.venv/bin/python', *again])}")


if __name__ == "__main__":
    main()
