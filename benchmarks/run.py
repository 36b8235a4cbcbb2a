"""``make bench``: run every benchmark and rewrite docs/benchmarks.md.

python -m benchmarks.run            # full size (under 10 minutes on 2 cores)
python -m benchmarks.run --quick    # small sizes, prints JSON (last line), leaves the doc alone
python -m benchmarks.run --sweep 1000   # the engine's whole sweep alone (section 1's workload at
                                        # concurrency 16): prints its JSON, leaves the doc alone
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

from jobjanitor_testbed.server import TestBed

from benchmarks import cgroup, coldstart, fuzz, hook, share, teardown, testbed_cost, throughput
from benchmarks.common import ROOT, aws_environment, machine

FAULTS = {"throttle_rate": 0.3, "error_rate": 0.1, "drop_rate": 0.05}
CPU_VS_PEER = 0.5  # CPU seconds of a whole sweep, engine / peer
SHARE_MB = 256  # the 1,000-job sweep at Lambda's CPU share for this MemorySize...
SHARE_SWEEP_S = 20.0  # ... within this long
SIZES = (1000, 5000, 20000)
FAULT_TEXT = (
    "Each client's calls share one rate (`ratelimit.RateLimiter`): every attempt, retries included,",
    "waits its turn. Throttled answers cut the rate multiplicatively, to 70% of what was sent or to",
    "what the service accepted if that is lower (AIMD: no throttling grows it back, additively near",
    "the rate that throttled last), and each cut is put on trial: it is kept if the service then",
    "accepts as much as before (it caps what it accepts) or throttles less (it limits our rate); if",
    "what it accepts falls with what is sent, the throttling does not depend on our rate and the rate",
    "goes back. A throttled call is retried while the deadline allows. Retries",
    "back off from 50 ms (at most 1 s), not botocore's 1 s doubling to 20 s per throttled call, which",
    "left a few unlucky calls sleeping for a minute while the sweep waited for them (the previous",
    "engine took 29x its fault-free time here). botocore's own `adaptive` mode cuts its rate on every",
    "throttled answer (`botocore/retries/adaptive.py`): under a steady share of throttling that does",
    "not follow the rate, as here, it keeps cutting, down to its floor of half a request per second",
    "(not run here: this sweep would then take about two hours). A job whose calls still fail after the client's 8",
    "attempts gets up to two more passes within the deadline, each describing first.",
)


CPU_TEXT = (
    "**CPU.** The CPU columns count the sweeping process from the moment its clients exist (boto3 imported and",
    "the clients made before, as for the wall time): what the sweep itself costs. Each child process reads",
    "precompiled bytecode, as Lambda reads the build's (`benchmarks/common.py`: `PYTHONPYCACHEPREFIX`); figures",
    "before this counted compiling boto3 in every child as sweep CPU. botocore spends about 0.8 ms of CPU on",
    "every request (event hooks, serialising and validating against the model, urllib3, parsing), four times",
    "what sending it takes; profiled (py-spy, cProfile), no one hook or setting carries much of it",
    "(`parameter_validation=False` saved nothing measurable). So the engine sends the Neptune data API's list,",
    "get and cancel calls, and Glue's GetMLTaskRuns, GetMLTaskRun and CancelMLTaskRun, itself",
    "(`jobjanitor/lean_http.py`): the request botocore would build, signed by botocore's SigV4 signer, over",
    "pooled keep-alive connections; a refusal is raised as botocore raises it, and any answer a retry could",
    "change (throttling, 5xx, a timeout, a dropped connection) is handed to a botocore client under the retry",
    "policy, the lean attempt counting as its first. Threads: at most 16 per CPU the process has (its cgroup quota, or Lambda's share for its",
    "memory), at least 8 (`jobjanitor/cpu.py`): at 0.145 CPU a 1,000-job sweep took as long with 8 threads as",
    "with 16, and twice as long with 4.",
)


def load_average() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def collect(*, quick: bool) -> dict[str, Any]:
    jobs, sequential_jobs = (100, 20) if quick else (1000, 100)
    sizes = (100, 300) if quick else SIZES
    concurrencies = (16, 32) if quick else throughput.CONCURRENCIES
    figures: dict[str, Any] = {"machine": machine(), "quick": quick, "load_before": load_average()}

    def step(name: str) -> None:
        print(f"[bench] {name} ({time.strftime('%H:%M:%S')})", file=sys.stderr, flush=True)

    step("sam build; cold start and size of the built artifact")
    figures["coldstart"] = coldstart.collect(quick=quick)
    with TestBed() as bed:
        aws_environment(bed)
        step("warming up: each child process's bytecode")
        throughput.sweep(bed, 20, "engine")
        throughput.sweep(bed, 20, "peer")
        step(f"engine and thread-pool peer, {jobs} jobs, concurrency {', '.join(map(str, concurrencies))}")
        figures["comparison"] = throughput.comparison(bed, jobs, concurrencies)
        step(f"sequential loop over {sequential_jobs} jobs")
        figures["sequential"] = throughput.sequential_loop(bed, sequential_jobs)
        step(f"sweep of {jobs} jobs under faults")
        figures["faults"] = throughput.sweep(bed, jobs, faults=FAULTS)
        step(f"scaling: {', '.join(map(str, sizes))} jobs")
        figures["scaling"] = throughput.scaling(bed, sizes)
        step("teardown latency")
        figures["teardown"] = teardown.measure(bed, 1 if quick else 3)
        step("teardown hook: first invocation on a cluster with outstanding jobs")
        figures["hook"] = hook.measure(bed, 100 if quick else 1000)
        step(f"the engine's sweep of {jobs} jobs at Lambda's CPU share for {SHARE_MB} MB")
        with cgroup.cpu_limit(SHARE_MB) as limit:
            if isinstance(limit, str):
                figures["share_sweep"] = {"skipped": limit}
            else:
                figures["share_sweep"] = throughput.sweep(bed, jobs, "engine", wrap=limit.command)
                figures["share_sweep"].update(memory_mb=SHARE_MB, share=limit.share, measured_share=limit.measured)
        step("each function at Lambda's CPU share: MemorySize " + ", ".join(map(str, cgroup.MEMORY_SIZES)))
        figures["share"] = share.measure(
            bed,
            sizes=(256, 1769) if quick else cgroup.MEMORY_SIZES,
            teardown_jobs=5 if quick else share.TEARDOWN_JOBS,
            sweep_jobs=40 if quick else share.SWEEP_JOBS,
            progress=lambda text: step(f"  {text}"),
        )
        figures["share"]["chosen"] = share.chosen(figures["share"])
        cost_jobs = 300 if quick else testbed_cost.JOBS
        step(f"the test bed's CPU per request against the client's, {cost_jobs} jobs")
        figures["testbed_cost"] = testbed_cost.measure(bed, cost_jobs)
    step("fuzzing")
    figures["fuzz"] = fuzz.run(60 if quick else 1000)
    figures["load_after"] = load_average()
    return figures


def sweep_alone(jobs: int) -> dict[str, Any]:
    """The engine's whole sweep of ``jobs`` jobs, as section 1 measures it (after the same
    warm-up), without the rest of ``make bench``."""
    with TestBed() as bed:
        aws_environment(bed)
        throughput.sweep(bed, 20, "engine")
        return throughput.sweep(bed, jobs, "engine")


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _row(rows: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    return next((r for r in rows if r["concurrency"] == concurrency), rows[0])


def _missed_notes(rows: list[dict[str, Any]], engine: dict[str, Any], peer: dict[str, Any]) -> list[str]:
    """Under the targets table: by how much, and why, a sweep target was missed."""
    out: list[str] = []
    vs_floor = engine["wall"] / engine["floor"]
    # The floor at the pace this machine kept: the time per request at the test bed, and the
    # requests in flight on average.
    paced = (
        engine["floor"]
        * (engine["mean_request_s"] / throughput.LATENCY)
        * (throughput.CONCURRENCY / engine["in_flight"])
    )
    if vs_floor > 1.25:
        calm = min(rows, key=lambda r: r["engine"]["wall"] / r["engine"]["floor"])
        out += [
            f"**Against the floor: {vs_floor:.2f}x, target 1.25x.** The floor counts {throughput.LATENCY * 1000:.0f} ms per request with all",
            f"{throughput.CONCURRENCY} slots busy; here a request took {engine['mean_request_s'] * 1000:.1f} ms at the test bed and {engine['in_flight']:.1f} were in flight on average",
            "(the sweeping process and the test bed share the cores, and the machine was shared). At that pace the",
            f"floor's own requests take {paced:.2f} s: the engine is {engine['wall'] / paced:.2f}x of that. At concurrency {calm['concurrency']},",
            f"where the cores keep up better, it is {calm['engine']['wall'] / calm['engine']['floor']:.2f}x its floor.",
            "",
        ]
    return out


def _share_sweep_rows(f: dict[str, Any]) -> list[str]:
    """The target row of the engine's sweep at Lambda's CPU share."""
    if "share_sweep" not in f:
        return []
    s = f["share_sweep"]
    target = f"whole sweep of 1,000 jobs at Lambda's CPU share for {SHARE_MB} MB ({cgroup.share(SHARE_MB):.3f} CPU) within {SHARE_SWEEP_S:.0f} s, all cancelled, 0 misreported"
    if "skipped" in s:
        return [f"| {target} | not measured: {s['skipped']} | **missed** |"]
    ok = s["wall"] <= SHARE_SWEEP_S and s["stopped_in_testbed"] == s["jobs"] and s["lie_count"] == 0
    measured = f"{s['wall']:.2f} s, {s['stopped_in_testbed']:,}/{s['jobs']:,} stopped, {s['lie_count']} misreported ({s['cpu_sweep_s']:.2f} CPU s; a busy loop got {s['measured_share']:.3f} CPU)"
    return [f"| {target} | {measured} | {_met(ok)} |"]


def render(f: dict[str, Any]) -> str:  # noqa: PLR0915 - one document, top to bottom
    m, rows, seq, faults, scale, td, fz = (
        f["machine"], f["comparison"], f["sequential"], f["faults"], f["scaling"], f["teardown"], f["fuzz"],
    )  # fmt: skip
    base = _row(rows, throughput.CONCURRENCY)
    engine, peer = base["engine"], base["peer"]
    vs_floor = engine["wall"] / engine["floor"]
    per_job = engine["requests_per_cancelled"]
    best = min(rows, key=lambda r: r["engine"]["wall"])
    best_peer = min(rows, key=lambda r: r["peer"]["wall"])
    fault_ratio = faults["wall"] / engine["wall"]
    fault_share = faults["stopped_in_testbed"] / faults["jobs"]
    largest = scale[-1]
    lines: list[str] = []
    add = lines.append
    add("# Benchmarks")
    add("")
    add("Generated by `make bench` (`python -m benchmarks.run`); do not edit by hand. Every ratio is")
    add("measured in the same run: these machines are noisy. The test bed runs in the benchmark's")
    add("process and each sweep in a fresh process of its own (no shared GIL; its memory is its own).")
    add("Requests are counted from the test bed's own request logs, final states read from the test")
    add("bed itself, never from a report.")
    add("")
    add(f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}; {m['os']}; Python {m['python']}, boto3 {m['boto3']}.")
    add(
        f"Date: {m['date']}. Load average (1, 5, 15 min) {f.get('load_before', '?')} before, {f.get('load_after', '?')} after:"
    )
    add("the machine is shared, so absolute times carry noise; ratios within one run are what count.")
    add("")
    add("## Targets")
    add("")
    add("| target | measured | |")
    add("|---|---|---|")
    cpu_ratio = engine["cpu_sweep_s"] / peer["cpu_sweep_s"]
    add(
        f"| CPU seconds of a whole sweep of {engine['jobs']:,} jobs at {throughput.LATENCY * 1000:.0f} ms at most {CPU_VS_PEER}x the thread-pool peer's at equal concurrency ({throughput.CONCURRENCY}) | {cpu_ratio:.2f}x ({engine['cpu_sweep_s']:.2f} s against {peer['cpu_sweep_s']:.2f} s) | {_met(cpu_ratio <= CPU_VS_PEER)} |"
    )
    add(
        f"| whole sweep within 1.25x of the floor | {vs_floor:.2f}x ({engine['wall']:.2f} s against {engine['floor']:.2f} s; the peer {peer['wall']:.2f} s) | {_met(vs_floor <= 1.25)} |"
    )
    lines.extend(_share_sweep_rows(f))
    sagemaker = engine.get("sagemaker_requests", 0)
    add(
        f"| at most 2.1 requests per cancelled job, whole sweep, polls and SageMaker billing reads included | {per_job:.2f} ({engine['requests']:,} requests, {sagemaker:,} of them SageMaker's; {engine['cancelled_total']:,} cancelled) | {_met(per_job <= 2.1)} |"
    )
    add(
        f"| under 30% throttling, 10% 5xx, 5% drops: at most 5x the fault-free time, 100% cancelled, 0 misreported | {fault_ratio:.1f}x, {fault_share:.1%} stopped, {faults['lie_count']} misreported | {_met(fault_ratio <= 5 and fault_share == 1 and faults['lie_count'] == 0)} |"
    )
    add(
        f"| peak memory of a {largest['jobs']:,}-job sweep under 128 MB (the sweeping process, VmHWM) | {largest['vmhwm_mb']:.0f} MB | {_met(largest['vmhwm_mb'] < 128)} |"
    )
    lines.extend(coldstart.target_rows(f["coldstart"]))
    if "testbed_cost" in f:
        lines.append(testbed_cost.target_row(f["testbed_cost"]))
    add(
        f"| Delete answered at most 5 s after the last job stops | {td['after_last_stop_s']:.2f} s | {_met(td['after_last_stop_s'] <= 5)} |"
    )
    if "hook" in f:
        add(hook.target_row(f["hook"]))
    lines.extend(share.target_rows(f["share"]) if "share" in f else [])
    add("")
    lines.extend(_missed_notes(rows, engine, peer))
    lines.extend(testbed_cost.missed_note(f.get("testbed_cost")))
    add("## 1. A whole sweep: engine, thread-pool peer, floor")
    add("")
    by_kind = ", ".join(f"{k} {v}" for k, v in engine["by_kind"].items())
    add(
        f"Workload: {engine['jobs']:,} outstanding jobs ({by_kind}); the test bed adds {throughput.LATENCY * 1000:.0f} ms to every request;"
    )
    add(
        f"a cancelled ML job or Glue run stops {throughput.STOP_DELAY} s after its cancel, a load at once. A whole sweep is discovery,"
    )
    add("cancelling, and waiting until every cancelled job is seen stopped.")
    add("Each Neptune ML job runs on SageMaker jobs in the test bed's moto (a data processing job on one,")
    add("a training or transform job on two); the engine counts one stopped only once SageMaker agrees")
    add(
        f"(`jobjanitor.billing`), and its requests include those SageMaker reads ({engine.get('sagemaker_requests', 0):,} here, listings in"
    )
    add("batches: [guard.md](guard.md#does-the-bill-stop)). The peer and the floor read no SageMaker.")
    add("")
    add("- **engine**: `engine.sweep`, as the CLI, the guard and the sweeper run it.")
    add("- **peer**: what a competent engineer writes in forty lines: boto3 clients with a connection pool")
    add("  sized to the threads, a `ThreadPoolExecutor` of the same concurrency; every list at once, then")
    add("  per job a get (not for Glue runs: the list gives their status) and a cancel, then the cancelled")
    add(f"  jobs polled in rounds every {throughput.STOP_DELAY} s until stopped (`benchmarks/child.py`).")
    add("- **floor**: physics, not our design. The requests no client can avoid: one list round; per job")
    add("  one cancel; per cancelled job one read that sees it stopped. At the added latency and the")
    add("  concurrency used: one list round, then the larger of (every cancel and read, that many at a")
    add("  time) and (the cancels of the jobs that take the stop delay, the delay, one read).")
    add("")
    add(
        "| concurrency | engine | peer | floor | engine / floor | peer / engine | requests per cancelled job: engine, peer, floor | CPU s of the sweep: engine, peer (engine / peer) |"
    )
    add("|---|---|---|---|---|---|---|---|")
    for r in rows:
        e, p = r["engine"], r["peer"]
        floor_per_job = e["floor_requests"] / max(1, e["cancelled_total"])
        add(
            f"| {r['concurrency']} | {e['wall']:.2f} s | {p['wall']:.2f} s | {e['floor']:.2f} s | {e['wall'] / e['floor']:.2f}x | {p['wall'] / e['wall']:.2f}x | {e['requests_per_cancelled']:.2f}, {p['requests_per_cancelled']:.2f}, {floor_per_job:.2f} | {e['cpu_sweep_s']:.2f}, {p['cpu_sweep_s']:.2f} ({e['cpu_sweep_s'] / p['cpu_sweep_s']:.2f}x) |"
        )
    add("")
    add(
        f"Best concurrency here: the engine's fastest sweep was at {best['concurrency']} ({best['engine']['wall']:.2f} s, {best['engine']['wall'] / best['engine']['floor']:.2f}x its floor),"
    )
    add(
        f"the peer's at {best_peer['concurrency']} ({best_peer['peer']['wall']:.2f} s). The default is {throughput.CONCURRENCY}: past it, the floor"
    )
    add("keeps falling but two shared cores do not (every request costs CPU), and AWS's")
    add("per-account request rates, not a laptop's, are what a real sweep meets first.")
    add("")
    add(f"Requests by operation at concurrency {throughput.CONCURRENCY}:")
    add("")
    add("| operation | engine | peer |")
    add("|---|---|---|")
    for op in sorted(set(engine["requests_by_operation"]) | set(peer["requests_by_operation"])):
        add(f"| {op} | {engine['requests_by_operation'].get(op, 0)} | {peer['requests_by_operation'].get(op, 0)} |")
    add("")
    add(
        f"Where the engine's {engine['wall']:.2f} s go above the floor's {engine['floor']:.2f} s: {engine['requests'] - engine['floor_requests']} requests more than the"
    )
    add(
        f"floor's {engine['floor_requests']:,} (each kind's probe learning its stop delay, and reads of jobs that took longer than the"
    )
    add(
        f"ones seen before); requests took {engine['mean_request_s'] * 1000:.1f} ms on average at the test bed against the floor's {throughput.LATENCY * 1000:.0f} ms"
    )
    add(
        f"(its own work under load), with {engine['in_flight']:.1f} of {throughput.CONCURRENCY} in flight on average (the sweeping process's CPU:"
    )
    add(f"every request costs CPU, and {m['cores']} cores are shared with the test bed and, here,")
    add(
        f"other work); the peer: {peer['mean_request_s'] * 1000:.1f} ms, {peer['in_flight']:.1f} in flight. The engine cancels first (no describe"
    )
    add("before a cancel without an age filter, once its first 16 decisions found the jobs mostly running: those")
    add("16 are described first), polls a job once its kind's stop delay has passed after its")
    add("cancel while later jobs are still being cancelled, and lists Glue transforms and statuses at once.")
    add("")
    for line in CPU_TEXT:
        add(line)
    add("")
    add("Footnote, the one-thread loop (the same peer with one worker): "
        f"{seq['wall']:.2f} s for {seq['jobs']} jobs, so about {seq['wall'] * engine['jobs'] / seq['jobs']:.0f} s for {engine['jobs']:,}; it is linear in the")  # fmt: skip
    add("number of jobs. Comparing against it measures the concurrency, not the tool.")
    add("")
    add("## 2. Scaling, memory, and what discovery can see")
    add("")
    add(
        f"The engine at concurrency {throughput.CONCURRENCY}, {throughput.LATENCY * 1000:.0f} ms added latency. Memory is the sweeping process's own"
    )
    add("peak resident set (`VmHWM` in `/proc/self/status` of a fresh process that does only the sweep),")
    add("and, in brackets, its peak before the sweep began (the interpreter, boto3 and the package).")
    add(
        "The functions run with "
        + ", ".join(f"{n} {v['MemorySize']} MB" for n, v in share.function_settings().items())
        + "."
    )
    add("")
    add(
        "| jobs seeded | seen by discovery | cancelled | wall time | floor | ratio | requests per cancelled job | peak memory |"
    )
    add("|---|---|---|---|---|---|---|---|")
    for r in scale:
        seen = sum(r["seen_by_kind"].values())
        add(
            f"| {r['jobs']:,} | {seen:,} | {r['cancelled_total']:,} | {r['wall']:.2f} s | {r['floor']:.2f} s | {r['wall'] / r['floor']:.2f}x | {r['requests_per_cancelled']:.2f} | {r['vmhwm_mb']:.0f} MB ({r['vmhwm_before_mb']:.0f} MB) |"
        )
    add("")
    add("What each kind's discovery saw (seen / seeded), and whether the report was ok:")
    add("")
    kinds = list(scale[0]["by_kind"])
    add("| jobs | " + " | ".join(kinds) + " | report |")
    add("|---|" + "---|" * len(kinds) + "---|")
    for r in scale:
        cells = [f"{r['seen_by_kind'].get(k, 0):,} / {r['by_kind'][k]:,}" for k in kinds]
        add(f"| {r['jobs']:,} | " + " | ".join(cells) + f" | {'ok' if r['report_ok'] else 'not ok'} |")
    add("")
    add("What the APIs allow: `ListML*Jobs` returns at most 1,024 ids per kind and `ListLoaderJobs` at most")
    add("100, neither pages, and which ids a full list keeps is not documented (the test bed keeps the")
    add("newest). Neptune runs one load at a time and queues at most 64, so loads never reach their cap;")
    add("an ML kind with more than 1,024 jobs on the cluster is only partly visible, and a sweep that")
    add("hit a cap says so. Glue's `GetMLTaskRuns` pages (1,000 per page, filtered by status), so every")
    add("outstanding run of a named transform is seen at any size.")
    add("")
    add("## 3. Cold start")
    add("")
    lines.extend(coldstart.render(f["coldstart"]))
    add("## 4. Teardown latency")
    add("")
    add(
        f"The guard's Delete over {td['jobs']} jobs of every kind, test bed stop delay {td['stop_delay']} s, median of {td['repeats']}:"
    )
    add("")
    add("| | seconds |")
    add("|---|---|")
    add(f"| answer after the last job reached a terminal state | {td['after_last_stop_s']:.2f} |")
    add(f"| Delete sent to answer received | {td['delete_total_s']:.2f} |")
    add(f"| a Delete with nothing outstanding, end to end | {td['empty_delete_s']:.2f} |")
    add("")
    add("The guard's wait polls one job of each kind from 50 ms after its cancel, backing off to 1 s, until it")
    add("has stopped; the kind's other jobs are then read once that long after their own cancels. The Delete")
    add("is answered on the first read that finds everything stopped.")
    add("")
    add("## 5. Under faults")
    add("")
    injected = ", ".join(f"{v} {k}" for k, v in sorted(faults["injected_faults"].items()))
    add(
        f"The same {faults['jobs']:,}-job workload at concurrency {faults['concurrency']} with 30% throttling, 10% 5xx and 5% dropped connections on"
    )
    add(f"both services (injected: {injected}).")
    add("")
    add("| | fault-free | under faults |")
    add("|---|---|---|")
    add(
        f"| in-scope jobs stopped (the test bed's own state) | {engine['stopped_in_testbed']}/{engine['jobs']} | {faults['stopped_in_testbed']}/{faults['jobs']} |"
    )
    add(f"| jobs misreported | {engine['lie_count']} | {faults['lie_count']} |")
    add(
        f"| requests per cancelled job (all) | {engine['requests_per_cancelled']:.2f} | {faults['requests_per_cancelled']:.2f} |"
    )
    add(f"| wall time | {engine['wall']:.1f} s | {faults['wall']:.1f} s ({fault_ratio:.1f}x) |")
    add("")
    for line in FAULT_TEXT:
        add(line)
    add("Misreported means: reported cancelled or finished while the test bed shows it running, or running")
    add("in the test bed but not reported as failed.")
    add("")
    add("## 6. Fuzzing")
    add("")
    add(
        f"`tests/guard/test_guard_fuzz.py` asked for {fz['examples']} Hypothesis-generated custom-resource events, valid"
    )
    add(
        f"and malformed (random seed), and checked {fz.get('checked', 0)}: {'passed' if fz['passed'] else 'FAILED'} in {fz['seconds']:.0f} s ({fz['summary']})."
    )
    if fz["passed"]:
        add("Every event got exactly one well-formed response, and no Delete answered FAILED without FailOnError.")
    else:
        add("**A property failed**; the failing example is below.")
    add("`make test` runs the same test with 120 events (fixed seed).")
    if fz.get("tail"):
        add("")
        add("```")
        add(fz["tail"])
        add("```")
    add("")
    if "hook" in f:
        lines.extend(hook.section(f["hook"], 7))
    lines.extend(share.section(f["share"], 8) if "share" in f else [])
    return "\n".join(lines)


README_BEGIN = "<!-- make bench: begin -->"
README_END = "<!-- make bench: end -->"


def update_readme(path: str, doc: str, machine_info: dict[str, str]) -> None:
    """Put the doc's targets table between the README's markers (nothing if they are missing)."""
    with open(path) as f:
        readme = f.read()
    if README_BEGIN not in readme or README_END not in readme:
        return
    table = doc.split("## Targets\n", 1)[1].split("\n## ", 1)[0].strip()
    table = table.split("\n\n", 1)[0]  # the table only, not the notes under it
    block = "\n".join(
        [
            README_BEGIN,
            f"Latest `make bench` ({machine_info['date']}; {machine_info['cores']} cores, {machine_info['cpu']}; full figures,",
            "method and machine in [docs/benchmarks.md](docs/benchmarks.md)):",
            "",
            table,
            README_END,
        ]
    )
    head, rest = readme.split(README_BEGIN, 1)
    tail = rest.split(README_END, 1)[1]
    with open(path, "w") as f:
        f.write(head + block + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; print JSON, do not rewrite the doc")
    parser.add_argument("--render", metavar="FIGURES", help="rewrite the doc from a run's saved figures (JSON)")
    parser.add_argument(
        "--sweep", metavar="JOBS", type=int, help="only the engine's whole sweep of JOBS jobs; print JSON"
    )
    args = parser.parse_args(argv)
    if args.sweep:
        print(json.dumps(sweep_alone(args.sweep), default=str))
        return 0
    if args.render:
        with open(args.render) as f:
            figures = json.load(f)
    else:
        started = time.perf_counter()
        figures = collect(quick=args.quick)
        figures["seconds"] = time.perf_counter() - started
        saved = os.path.join(tempfile.gettempdir(), "jobjanitor-bench-figures.json")
        with open(saved, "w") as f:
            json.dump(figures, f, default=str)
        print(f"[bench] figures saved in {saved} (--render {saved} rewrites the doc from them)", file=sys.stderr)
    if args.quick:
        # One line, last: handlers may print EMF metrics to stdout before it.
        print(json.dumps(figures, default=str))
        return 0
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    text = render(figures)
    with open(path, "w") as out:
        out.write(text)
        out.write(f"\nThe whole `make bench` took {figures['seconds']:.0f} s.\n")
    update_readme(os.path.join(ROOT, "README.md"), text, figures["machine"])
    print(f"[bench] wrote {path} and README.md's figures in {figures['seconds']:.0f} s", file=sys.stderr)
    return 0 if figures["fuzz"]["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
