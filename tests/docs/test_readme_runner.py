"""The README runner itself, on small Markdown texts (no cluster): blocks share their
sessions in order, a failing command is named with its README line, and every block
needs a language the runner knows or an illustrative marker."""
from __future__ import annotations

import os

import pytest

from readme_runner import BlockFailed, ReadmeRunner, parse_blocks

MARKDOWN = '''# t

```sh
A=5; printf 'no newline at the end'
```

```python
x = 3
```

<!-- illustrative: needs several machines -->
```sh
exit 1
```

```text
output, not run
```

```python
assert x == 3
print("x is", x)
```

```sh
test "$A" = 5
false | true
ls /no/such/dir
echo never
```
'''


@pytest.fixture
def runner(tmp_path):
    (tmp_path / "work").mkdir(), (tmp_path / "blocks").mkdir()
    run = ReadmeRunner(tmp_path / "work", tmp_path / "blocks", dict(os.environ), timeout=60)
    yield run
    run.close()


def test_blocks_and_their_kinds():
    kinds = [(b.line, b.kind) for b in parse_blocks(MARKDOWN)]
    assert kinds == [(3, "shell"), (7, "python"), (12, "illustrative"), (16, "shown"), (20, "python"),
                     (25, "shell")]
    assert parse_blocks(MARKDOWN)[2].illustrative == "needs several machines"
    assert [b.kind for b in parse_blocks("```\nhfed dfs -ls /\n```\n\n```ruby\nputs 1\n```\n")] == \
        ["unknown", "unknown"]


def test_sessions_carry_state_and_a_failure_names_line_and_command(runner):
    blocks = [b for b in parse_blocks(MARKDOWN) if b.kind in ("shell", "python")]
    for block in blocks[:-1]:
        runner.run(block)
    with pytest.raises(BlockFailed) as failed:
        runner.run(blocks[-1])
    message = str(failed.value)
    assert "README.md line 25 (sh block): `ls /no/such/dir` at README.md line 28 exited 2" in message
    assert "never" not in message.split("--- output ---")[1]


def test_a_python_error_shows_the_readme_line(runner):
    block = parse_blocks("text\n\n```python\nx = 1\nraise ValueError('boom')\n```\n")[0]
    with pytest.raises(BlockFailed) as failed:
        runner.run(block)
    assert 'File "README.md", line 5' in str(failed.value) and "ValueError: boom" in str(failed.value)
