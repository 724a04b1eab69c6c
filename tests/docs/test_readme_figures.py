"""Figures README.md quotes from a benchmark report are the report's figures.

A README paragraph (or table, with the paragraph that introduces it) that names a report
under bench/results/ quotes its figures: every decimal figure and every ratio (`0.72x`)
and every number with thousands separators (`72,748`) in it must be a number of one of
the reports it names, at the README's precision (0.958 in the report may be quoted as
0.96). A figure from another run says so inside its parenthesis ("across runs", "earlier
run", "before: ..."; in a table, anywhere in its row), and is then not checked.
"""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
CITE = re.compile(r"bench/results/([\w.-]+\.(?:jsonl|json|md|png))")
FIGURE = re.compile(r"(?<![\w.])(\d[\d,]*\.\d+)(?:x|%)?(?![\w.])|(?<![\w.])(\d[\d,]*)x(?!\w)"
                    r"|(?<![\w.,])(\d{1,3}(?:,\d{3})+)(?![\w.,])")
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
OTHER_RUN = re.compile(r"across (?:the session's )?runs|earlier run|before:|over \d+ runs|in an earlier")


def units(text: str):
    """(README line, text, cited reports) per paragraph; a table inherits its intro's reports."""
    line, previous = 1, []
    for chunk in re.split(r"(\n\s*\n)", text):
        if chunk.strip() and not chunk.startswith("\n"):
            cited = CITE.findall(chunk)
            if not cited and chunk.lstrip().startswith("|"):
                cited = previous
            previous = cited
            yield line, chunk, cited
        line += chunk.count("\n")


def other_run_spans(chunk: str) -> list[tuple[int, int]]:
    """Parentheses that say their figures come from another run (in a table: the whole row)."""
    spans, depth, start = [], 0, 0
    offset = 0
    for row in chunk.splitlines(keepends=True):
        if row.lstrip().startswith("|") and OTHER_RUN.search(row):
            spans.append((offset, offset + len(row)))
        offset += len(row)
    for i, ch in enumerate(chunk):
        if ch == "(":
            if depth == 0:
                start = i
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if depth == 0 and OTHER_RUN.search(chunk[start:i]):
                spans.append((start, i))
    return spans


def report_numbers(names) -> set[float]:
    numbers = set()
    for name in names:
        if not name.endswith(".png"):
            numbers |= {float(n.replace(",", "")) for n in NUMBER.findall((RESULTS / name).read_text())}
    return numbers


def quoted(token: str, numbers: set[float]) -> bool:
    decimals = len(token.split(".")[1]) if "." in token else 0
    value = float(token.replace(",", ""))
    return any(round(n, decimals) == value for n in numbers)


def test_cited_reports_exist():
    text = (REPO / "README.md").read_text()
    missing = sorted({name for _, _, cited in units(text) for name in cited if not (RESULTS / name).exists()})
    assert not missing, f"README.md cites reports that are not in bench/results: {missing}"


def test_quoted_figures_are_the_reports_figures():
    text = (REPO / "README.md").read_text()
    wrong, checked = [], 0
    for line, chunk, cited in units(text):
        if not cited:
            continue
        numbers = report_numbers(n for n in set(cited) if (RESULTS / n).exists())
        exempt = other_run_spans(chunk)
        for match in FIGURE.finditer(chunk):
            if any(a <= match.start() <= b for a, b in exempt):
                continue
            checked += 1
            if not quoted(match.group(1) or match.group(2) or match.group(3), numbers):
                at = line + chunk[:match.start()].count("\n")
                wrong.append(f"README.md line {at}: {match.group(0)} is in none of {sorted(set(cited))}")
    assert checked > 50, f"only {checked} figures found: is the README's citation style still `bench/results/...`?"
    assert not wrong, "figures that are not in the report they cite:\n" + "\n".join(wrong)
