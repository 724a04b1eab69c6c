"""Run README.md's examples in order, as a new user would paste them.

markdown-it-py finds the fenced blocks (the CommonMark parser, so what it calls a block is
what GitHub renders as one). Shell blocks (sh, bash, shell, console) go to one bash session
and Python blocks to one interpreter session, both kept open for the whole README, so
variables, files and the cluster carry from block to block and from shell to Python. A block
that cannot run here is marked with an HTML comment right before it:
``<!-- illustrative: REASON -->``. Output and config blocks (text, toml) are shown, not run.
A block with any other language (or none) is an error: every block gets a decision.

No existing tool fits: sybil and pytest-markdown-docs run Python only (sybil also has no
shell evaluator that keeps one session), pytest-examples runs Python blocks one by one; here
shell and Python blocks interleave against one live cluster.
"""
from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

SHELL = {"sh", "bash", "shell", "console"}
PYTHON = {"python", "py"}
SHOWN = {"text", "toml"}           # output shown to the reader, config files: not executed
ILLUSTRATIVE = re.compile(r"<!--\s*illustrative:\s*(.+?)\s*-->", re.S)
DONE = "__HFED_README_DONE__"
FAILED = "__HFED_README_FAILED__"


@dataclass
class Block:
    line: int          # README line of the opening fence (1-based)
    lang: str
    code: str
    illustrative: str | None   # the reason, when marked

    @property
    def first_code_line(self) -> int:
        return self.line + 1

    @property
    def kind(self) -> str:
        if self.illustrative is not None:
            return "illustrative"
        if self.lang in SHELL:
            return "shell"
        if self.lang in PYTHON:
            return "python"
        if self.lang in SHOWN:
            return "shown"
        return "unknown"


def parse_blocks(text: str) -> list[Block]:
    tokens = MarkdownIt("commonmark").parse(text)
    blocks = []
    for i, tok in enumerate(tokens):
        if tok.type not in ("fence", "code_block"):
            continue
        reason = None
        if i > 0 and tokens[i - 1].type == "html_block":
            match = ILLUSTRATIVE.search(tokens[i - 1].content)
            reason = match.group(1) if match else None
        lang = tok.info.split()[0].lower() if tok.type == "fence" and tok.info.strip() else ""
        blocks.append(Block(tok.map[0] + 1, lang, tok.content, reason))
    return blocks


def console_commands(code: str) -> str:
    """A console block's commands: the lines after a `$ ` prompt (the rest is output)."""
    return "".join(line[2:] + "\n" for line in code.splitlines() if line.startswith("$ "))


class BlockFailed(AssertionError):
    pass


class _Session:
    """One long-lived interpreter fed a block at a time; output read until a marker line."""

    def __init__(self, argv: list[str], cwd: Path, env: dict):
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1, start_new_session=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, text: str, timeout: float) -> tuple[str, list[str]]:
        """Write text, collect output until DONE/FAILED; returns (status, output lines)."""
        self.proc.stdin.write(text)
        self.proc.stdin.flush()
        out: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                return "timeout", out
            if line is None:
                return "exited", out
            # Output that ends without a newline (curl's, say) runs into the marker.
            for marker, status in ((DONE, "done"), (FAILED, "failed")):
                if marker in line:
                    before, _, after = line.partition(marker)
                    out += [before + "\n"] if before else []
                    return status, out + ([marker + after] if status == "failed" else [])
            out.append(line)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


# Runs inside the Python session: each block is exec'd in one shared namespace, compiled
# with README line numbers so a traceback points at the README.
PYTHON_DRIVER = r"""
import json, sys, traceback
ns = {"__name__": "__main__"}
for request in sys.stdin:
    block = json.loads(request)
    source = "\n" * (block["line"] - 1) + open(block["path"]).read()
    try:
        exec(compile(source, "README.md", "exec"), ns)
    except BaseException:
        traceback.print_exc(file=sys.stdout)
        print("%s" % ("__HFED_README_FAILED__",), flush=True)
    else:
        print("__HFED_README_DONE__", flush=True)
"""

def _split(marker: str) -> str:
    return f"{marker[:8]} {marker[8:]}"


# The bash session: errexit as a script would, and a trap that names the failing command
# and its line in the block file before the shell exits.
SHELL_PRELUDE = (
    "set -eE\n"
    "trap 'rc=$?; printf \"%s%s exit %s at line %s: %s\\n\" " + _split(FAILED)
    + " \"$rc\" \"$LINENO\" \"$BASH_COMMAND\"' ERR\n"
)
DONE_COMMAND = "printf '%s%s\\n' " + _split(DONE) + "\n"   # split, so a trace (set -x) never shows it whole


class ReadmeRunner:
    def __init__(self, workdir: Path, scratch: Path, env: dict, timeout: float = 300.0):
        self.workdir, self.scratch, self.env, self.timeout = workdir, scratch, env, timeout
        self._shell: _Session | None = None
        self._python: _Session | None = None
        self.executed: list[Block] = []
        self.seconds: dict[int, float] = {}     # README line -> run time
        self.transcript = scratch / "transcript.log"   # every block's output, in order

    def run(self, block: Block) -> None:
        started = time.monotonic()
        path = self.scratch / f"block-{block.line}.{'py' if block.kind == 'python' else 'sh'}"
        if block.kind == "shell":
            code = console_commands(block.code) if block.lang == "console" else block.code
            path.write_text(code)
            if self._shell is None:
                self._shell = _Session(["bash", "--noprofile", "--norc"], self.workdir, self.env)
                self._shell.proc.stdin.write(SHELL_PRELUDE)
                if os.environ.get("HFED_README_TRACE"):     # each command with the time it started
                    self._shell.proc.stdin.write("PS4='+ $(date +%T) '; set -x\n")
            status, out = self._shell.send(f"source {path} </dev/null\n" + DONE_COMMAND, self.timeout)
        elif block.kind == "python":
            path.write_text(block.code)
            if self._python is None:
                self._python = _Session([sys.executable, "-u", "-c", PYTHON_DRIVER],
                                        self.workdir, self.env)
            request = json.dumps({"path": str(path), "line": block.first_code_line})
            status, out = self._python.send(request + "\n", self.timeout)
        else:
            raise ValueError(f"README.md line {block.line}: block of kind {block.kind} is not run")
        with self.transcript.open("a") as log:
            log.write(f"=== README.md line {block.line} ({block.lang}): {status}\n" + "".join(out))
        self.executed.append(block)
        self.seconds[block.line] = time.monotonic() - started
        if status != "done":
            raise BlockFailed(self._describe(block, status, out))

    def _describe(self, block: Block, status: str, out: list[str]) -> str:
        where = f"README.md line {block.line} ({block.lang} block)"
        if out and out[-1].startswith(FAILED):
            match = re.match(rf"{FAILED} exit (\d+) at line (\d+): (.*)", out[-1])
            if match:
                rc, line, command = match.groups()
                where += (f": `{command.strip()}` at README.md line "
                          f"{block.first_code_line + int(line) - 1} exited {rc}")
        elif status == "timeout":
            where += f": no end after {self.timeout:.0f} s"
        elif status == "exited":
            where += ": the session ended"
        tail = "".join(out[-60:])
        return f"{where}\n--- output ---\n{tail}"

    def close(self) -> None:
        for session in (self._shell, self._python):
            if session is not None:
                session.close()
