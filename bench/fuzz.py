"""Fuzz each service for a set time against real daemons: bench/results/fuzz.md.

    python -m bench.fuzz [--seconds 600] [--service all|client|datanode-protocol|datatransfer]
    python -m bench.fuzz --service datatransfer --replay <hex of one input>

Each service gets a fresh one-NameNode, one-DataNode cluster (tests/fuzz/harness.py)
and its target (tests/fuzz/<service>.py) gets seeded random input bytes, which
it turns into structure-aware requests (real paths, blocks, uuids and tokens,
then damaged). The goal of issue 12: 0 daemon crashes and NameNode log growth
under 1 MB per 10 minutes of fuzzing. Per service it prints and writes: inputs
sent, inputs/s, daemon crashes, log growth (bytes and per 10 minutes), replies
by status code, and each finding (traceback, internal error, hang, oracle
failure, log flood) with the input that preceded it, replayable with --replay.

Why random inputs and not atheris' coverage-guided loop: atheris measures the
coverage of the process it runs in, which here is the fuzzer; the code under
test runs in the daemons, other processes. Its feedback would only reward new
paths through the request builder, which random bytes reach as well, and
libFuzzer's mutations of the provider bytes are no better than fresh random
bytes once every decision is read from them. What finds bugs here is the
structure (valid requests from real cluster values, then bent), so this runs
that at full speed with a seed, and reports figures. The targets still run
under atheris as scripts (python -m tests.fuzz.<target>) for libFuzzer's crash
files and corpus handling.
"""
from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

from tests.fuzz import client_protocol, datanode_protocol, datatransfer, harness

TARGETS = {"client": client_protocol, "datanode-protocol": datanode_protocol, "datatransfer": datatransfer}
RESULTS = Path(__file__).resolve().parent / "results" / "fuzz.md"
GOAL_LOG_PER_10_MIN = harness.LOG_BUDGET_PER_10_MIN


def fuzz_service(service: str, seconds: float, seed: int, base: Path) -> harness.Report:
    module = TARGETS[service]
    with harness.FuzzCluster(harness.cluster_dir(base, service)) as fc:
        target = module.attach(fc)
        last = [time.monotonic()]

        def progress(report: harness.Report) -> None:
            if time.monotonic() - last[0] >= 15:
                last[0] = time.monotonic()
                print(f"  {service}: {report.inputs} inputs, {len(report.findings)} distinct findings", flush=True)
        try:
            return harness.run(target, fc, seconds, seed=seed, check_every=5.0,
                               tolerate_missing=getattr(module, "TOLERATE_MISSING", False), progress=progress)
        finally:
            target.close()


def summary_lines(report: harness.Report, namenode: str) -> list[str]:
    nn = report.log_growth.get(namenode, 0)
    dn = sum(v for k, v in report.log_growth.items() if k != namenode)
    per10 = report.per_10_min(namenode)
    verdict = "within" if per10 < GOAL_LOG_PER_10_MIN else "OVER"
    return [f"- inputs sent: {report.inputs} in {report.seconds:.0f} s ({report.rate:.0f}/s); "
            f"oracle checks: {report.oracle_checks}",
            f"- daemon crashes: {report.crashes}",
            f"- NameNode log growth: {nn:,} bytes, {per10 / 1e6:.2f} MB per 10 min "
            f"({verdict} the 1 MB goal, ratio {per10 / GOAL_LOG_PER_10_MIN:.2f})",
            f"- DataNode log growth: {dn:,} bytes, {dn * 600 / max(report.seconds, 1e-9) / 1e6:.2f} MB per 10 min",
            "- replies: " + ", ".join(f"{code[:40]} {n}" for code, n in report.codes.most_common())]


def finding_lines(report: harness.Report) -> list[str]:
    if not report.findings:
        return ["No findings."]
    out = ["| count | kind | finding |", "|---|---|---|"]
    ranked = sorted(report.findings.values(), key=lambda fn: -fn[1])
    for finding, count in ranked:
        out.append(f"| {count} | {finding.kind} | {_cell(finding.summary[:300])} |")
    out.append("")
    for i, (finding, count) in enumerate(ranked, 1):
        _, what = finding.inputs[-1] if finding.inputs else ("", "")
        out += [f"<details><summary>{i}. {finding.kind}: {_cell(finding.summary[:120])}</summary>", "",
                f"Last input sent: {_cell(what[:500])}", "",
                f"Replay: `python -m bench.fuzz --service {report.service} --replay {replay_chain(finding)}`", ""]
        if finding.detail:
            out += ["```", finding.detail[-2000:].strip(), "```", ""]
        out += ["</details>", ""]
    return out


def replay_chain(finding: harness.Finding, limit: int = 16_000) -> str:
    """The inputs before a finding, oldest first, as --replay takes them (as many as fit in ``limit``)."""
    chain: list[str] = []
    for hexed, _ in reversed(finding.inputs):
        if chain and sum(map(len, chain)) + len(hexed) > limit:
            break
        chain.insert(0, hexed)
    return ",".join(chain)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def write_results(reports: list[harness.Report], seconds: float, seed: int) -> None:
    lines = ["# Fuzzing the services", "",
             f"`python -m bench.fuzz --seconds {seconds:.0f} --seed {seed}` on {time.strftime('%Y-%m-%d %H:%M')}: "
             "each service of a fresh one-NameNode, one-DataNode cluster fed structure-aware random inputs "
             "(tests/fuzz/). Goal (issue 12): 0 daemon crashes, NameNode log growth under 1 MB per 10 minutes.", ""]
    for report in reports:
        lines += [f"## {report.service}", ""] + summary_lines(report, "ns-a") + ["", "### Findings", ""]
        lines += finding_lines(report) + [""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))


def replay(service: str, chain: str) -> int:
    """Send inputs (hex, comma-separated, in order) to a fresh cluster; print what each did and
    what the daemons logged. A finding that needs state made by inputs long before it (a file
    they created) may not replay from the last few alone."""
    module = TARGETS[service]
    with tempfile.TemporaryDirectory(prefix="hfed-fuzz-") as base, \
            harness.FuzzCluster(harness.cluster_dir(base, service)) as fc:
        target = module.attach(fc)
        watch = harness.LogWatch(fc.log_paths())
        for hexed in chain.split(","):
            code, what = target.fuzz_one(bytes.fromhex(hexed))
            print(f"{code}: {what[:1000]}")
        time.sleep(0.5)
        found = 0
        for name, text in watch.new_text().items():
            for _, _, whole in harness.tracebacks(text):
                found += 1
                print(f"--- {name} logged:\n{whole}")
        problems = harness.Oracle(fc, getattr(module, "TOLERATE_MISSING", False)).check()
        print("oracle:", "; ".join(problems) or "ok", "| log growth:", watch.growth())
        target.close()
        return 1 if found or problems else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="per service (default 600)")
    parser.add_argument("--service", choices=["all", *TARGETS], default="all")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--replay", metavar="HEX[,HEX...]", help="send these inputs (hex) instead of fuzzing")
    args = parser.parse_args(argv)
    # A plain `kill` must still stop the clusters (the `with` blocks run on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.replay:
        if args.service == "all":
            parser.error("--replay needs --service")
        return replay(args.service, args.replay)
    services = list(TARGETS) if args.service == "all" else [args.service]
    reports = []
    with tempfile.TemporaryDirectory(prefix="hfed-fuzz-") as base:
        for service in services:
            print(f"{service}: fuzzing for {args.seconds:.0f} s (seed {args.seed})", flush=True)
            report = fuzz_service(service, args.seconds, args.seed, Path(base))
            reports.append(report)
            print("\n".join(summary_lines(report, "ns-a")))
            for finding, count in report.findings.values():
                print(f"  finding x{count}: {finding.kind}: {finding.summary[:200]}")
    write_results(reports, args.seconds, args.seed)
    print(f"wrote {RESULTS}")
    return 1 if any(r.crashes for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
