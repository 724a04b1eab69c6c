"""A few seconds of fuzzing per service against real daemons (HFED_FUZZ_SECONDS, default 4).

What users rely on: no input a client or a peer can send takes a daemon down,
stops the NameNode answering, changes a file's bytes, logs a traceback or
floods the NameNode log (goal: under 1 MB per 10 minutes). Longer runs with
figures: ``python -m bench.fuzz``. HFED_FUZZ_SEED picks other inputs (the
default seed replays the same ones).

``KNOWN`` lists findings of the current code that are someone's open work:
they are printed, not failed. Remove an entry once its fix lands (the test then
guards it); a finding not listed fails the test with its reproducer input.
"""
from __future__ import annotations

import os
import re

import pytest

from tests.fuzz import client_protocol, datanode_protocol, datatransfer, harness

SECONDS = float(os.environ.get("HFED_FUZZ_SECONDS", "4"))
SEED = int(os.environ.get("HFED_FUZZ_SEED", "12"))
TARGETS = {"client": client_protocol, "datanode-protocol": datanode_protocol, "datatransfer": datatransfer}

# (finding kind, regex on its signature) -> whose open work it is.
KNOWN: dict[tuple[str, str], str] = {}   # none open: every finding of the first runs is fixed


def known(finding: harness.Finding) -> str | None:
    for (kind, pattern), why in KNOWN.items():
        if finding.kind == kind and re.search(pattern, finding.key()[1]):
            return why
    return None


def describe(service: str, finding: harness.Finding, count: int) -> str:
    _, suspect = finding.inputs[-1] if finding.inputs else ("", "")
    chain = ",".join(hexed for hexed, _ in finding.inputs)
    return (f"{finding.kind} x{count}: {finding.summary}\n  last input: {suspect[:400]}\n"
            f"  replay: python -m bench.fuzz --service {service} --replay {chain}\n{finding.detail[-1500:]}")


@pytest.mark.parametrize("service", list(TARGETS))
def test_fuzzed_service_stays_up_answers_and_keeps_its_log_small(service, tmp_path):
    module = TARGETS[service]
    with harness.FuzzCluster(tmp_path / "cluster") as fc:
        target = module.attach(fc)
        try:
            report = harness.run(target, fc, SECONDS, seed=SEED,
                                 tolerate_missing=getattr(module, "TOLERATE_MISSING", False))
        finally:
            target.close()
    print(f"{service}: {report.inputs} inputs ({report.rate:.0f}/s), {dict(report.codes.most_common())}, "
          f"log growth {report.log_growth}")
    unexpected = []
    for finding, count in report.findings.values():
        why = known(finding)
        if why:
            print(f"known ({why}): {finding.kind} x{count}: {finding.summary[:300]}")
        else:
            unexpected.append(describe(service, finding, count))
    assert report.crashes == 0, "\n".join(unexpected)
    assert report.codes["OK"] > 0, f"no input got past validation: {dict(report.codes)}"
    assert not unexpected, "\n\n".join(unexpected)
