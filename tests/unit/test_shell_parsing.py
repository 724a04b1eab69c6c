"""`hfed dfs`'s pure parts: paths and URIs, globs, symbolic modes, -stat and -count formats,
ls rows, option parsing (no cluster needed)."""
from __future__ import annotations

import pytest

from client import shell_format as sf
from client.cli_dfs import COMMANDS, parse_options
from client.shell_core import ShellError, Target, UsageProblem, error_message, expand_braces, glob_regex, to_path
from protos import errors


@pytest.fixture(autouse=True)
def user(monkeypatch):
    monkeypatch.setenv("HFED_USER", "alice")


@pytest.mark.parametrize("arg, path", [
    ("/user/x", "/user/x"), ("x/y", "/user/alice/x/y"), (".", "/user/alice"), ("..", "/user"),
    ("hdfs://nn:8020/data/p", "/data/p"), ("hdfs:///data/p", "/data/p"), ("hdfs:/data/p", "/data/p"),
    ("hdfs://nn/user", "/user"), ("hfed:///user/x", "/user/x"), ("hfed://user/x", "/user/x"),
    ("/a//b/", "/a/b"),
])
def test_paths_and_uris(arg, path):
    assert to_path(arg) == path


def test_an_empty_path_and_another_filesystem_are_errors():
    with pytest.raises(UsageProblem, match="empty string"):
        to_path("")
    with pytest.raises(ShellError, match="Wrong FS"):
        to_path("file:///etc/passwd")


def test_relative_targets_show_as_given():
    assert Target(".", "/user/alice").child("/user/alice/f") == Target("f", "/user/alice/f")
    assert Target("d", "/user/alice/d").child("/user/alice/d/f").shown == "d/f"
    assert Target("d", "/user/alice/d").below("/user/alice/d/e/f").shown == "d/e/f"


def test_braces_expand_nested_and_across_slashes():
    assert expand_braces("/a/{b,c}/d") == ["/a/b/d", "/a/c/d"]
    assert expand_braces("/{x/y,z}*") == ["/x/y*", "/z*"]
    assert expand_braces("f{1,{2,3}}") == ["f1", "f2", "f3"]
    assert expand_braces(r"f\{a,b\}") == [r"f\{a,b\}"]
    with pytest.raises(UsageProblem, match="Unclosed group"):
        expand_braces("/a/{b,c")


@pytest.mark.parametrize("pattern, yes, no", [
    ("*.txt", ["a.txt", ".txt", "b.c.txt"], ["a.txt.gz", "a_txt"]),
    ("f?", ["f1", "fx"], ["f", "f12"]),
    ("[ab]x", ["ax", "bx"], ["cx", "abx"]),
    ("[^ab]x", ["cx"], ["ax"]), ("[!ab]x", ["cx"], ["bx"]), ("[a-c]", ["b"], ["d"]),
    (r"\*", ["*"], ["x"]), ("a.b", ["a.b"], ["axb"]),
])
def test_glob_components(pattern, yes, no):
    regex = glob_regex(pattern)
    assert all(regex.fullmatch(n) for n in yes) and not any(regex.fullmatch(n) for n in no)
    assert glob_regex("*.TXT", ignore_case=True).fullmatch("a.txt")


@pytest.mark.parametrize("mode, old, is_dir, new", [
    ("755", 0o644, False, 0o755), ("1777", 0o755, True, 0o1777),
    ("u+x", 0o644, False, 0o744), ("g-r", 0o644, False, 0o604), ("u+x,g-r", 0o644, False, 0o704),
    ("a=rw", 0o755, False, 0o666), ("=r", 0o777, False, 0o444), ("o=", 0o777, False, 0o770),
    ("+t", 0o777, True, 0o1777), ("-t", 0o1777, True, 0o777), ("go-w", 0o777, False, 0o755),
    ("a+X", 0o644, True, 0o755), ("a+X", 0o644, False, 0o644), ("a+X", 0o744, False, 0o755),
    ("ug+rwx", 0o000, False, 0o770),
])
def test_chmod_modes(mode, old, is_dir, new):
    assert oct(sf.parse_mode(mode)(old, is_dir)) == oct(new)


@pytest.mark.parametrize("bad", ["u+q", "8", "77777", "x+r", "u+x;g-r", ""])
def test_bad_modes_are_usage_errors(bad):
    with pytest.raises(UsageProblem, match="does not match the expected pattern"):
        sf.parse_mode(bad)


ENTRY = {"name": "/user/alice/data.bin", "type": "file", "size": 2048, "permission": 0o640, "owner": "alice",
         "group": "staff", "replication": 3, "block_size": 1 << 20, "mtime": 86400.5, "atime": 3600.0}


def test_stat_formats():
    line = sf.stat_line("%a %A %b %F %g %n %o %r %u %x %X %y %Y %% %Z", ENTRY)
    assert line == ("640 rw-r----- 2048 regular file staff data.bin 1048576 3 alice 1970-01-01 01:00:00 3600000 "
                    "1970-01-02 00:00:00 86400500 % %Z")
    directory = dict(ENTRY, type="directory", permission=0o1777, name="/tmp")
    assert sf.stat_line(r"%F\t%r %A %n", directory) == "directory\t0 rwxrwxrwt tmp"


def test_count_columns_and_quotas():
    summary = {"directory_count": 2, "file_count": 5, "length": 3000, "space_consumed": 9000,
               "quota": 100, "space_quota": -1}
    assert sf.count_line(summary, "/d").split() == ["2", "5", "3000", "/d"]
    assert sf.count_line(summary, "/d", quotas=True).split() == ["100", "93", "none", "inf", "2", "5", "3000", "/d"]
    assert sf.count_line(dict(summary, quota=0, space_quota=10000), "/d", quotas_only=True).split() == [
        "none", "inf", "10000", "1000", "/d"]
    assert sf.count_line(summary, "/d").startswith(f"{2:>12} {5:>12} {3000:>18} ")
    assert sf.count_header(True, False).split() == ["QUOTA", "REM_QUOTA", "SPACE_QUOTA", "REM_SPACE_QUOTA",
                                                   "DIR_COUNT", "FILE_COUNT", "CONTENT_SIZE", "PATHNAME"]
    assert sf.count_line(dict(summary, length=3 << 20), "/d", human=True).split()[2:4] == ["3", "M"]


def test_ls_rows_have_hdfs_columns():
    out = sf.LsFormatter()
    directory = dict(ENTRY, type="directory", size=0, permission=0o755)
    out.widen([ENTRY, directory])
    assert out.line(ENTRY, "data.bin").startswith("-rw-r-----   3 alice staff       2048 ")
    assert out.line(directory, "d").startswith("drwxr-xr-x   - alice staff          0 ")
    assert sf.LsFormatter(path_only=True).line(ENTRY, "a\x1bb") == r"a\x1bb"
    assert sf.LsFormatter(path_only=True, question_marks=True).line(ENTRY, "a\x1bb") == "a?b"
    small, big, old = dict(ENTRY, name="/a", size=1, mtime=5), dict(ENTRY, name="/b", size=9, mtime=1), \
        dict(ENTRY, name="/c", size=5, mtime=0)
    names = lambda es: [e["name"] for e in es]  # noqa: E731
    assert names(sf.ls_order([old, big, small])) == ["/a", "/b", "/c"]
    assert names(sf.ls_order([old, big, small], by_time=True)) == ["/a", "/b", "/c"]
    assert names(sf.ls_order([old, big, small], by_size=True)) == ["/b", "/c", "/a"]
    assert names(sf.ls_order([old, big, small], by_size=True, reverse=True)) == ["/a", "/c", "/b"]


def test_touch_timestamps():
    assert sf.parse_touch_time("19700102:000001") == 86401.0
    with pytest.raises(UsageProblem, match="yyyyMMdd:HHmmss"):
        sf.parse_touch_time("1970-01-02")


def test_options_as_hdfs_command_format():
    opts, args = parse_options(COMMANDS["ls"], ["-R", "-h", "/a", "-d"])
    assert opts.R and opts.h and not opts.d and args == ["/a", "-d"]   # options only lead
    opts, args = parse_options(COMMANDS["touch"], ["-t", "20260101:000000", "-c", "f"])
    assert opts.t == "20260101:000000" and opts.c and args == ["f"]
    assert parse_options(COMMANDS["put"], ["-", "/x"])[1] == ["-", "/x"]        # "-" is stdin, not an option
    assert parse_options(COMMANDS["cp"], ["-ptop", "/a", "/b"])[0].p
    assert parse_options(COMMANDS["rmdir"], ["--ignore-fail-on-non-empty", "/d"])[0]["-ignore-fail-on-non-empty"]
    with pytest.raises(UsageProblem, match="Illegal option -Z"):
        parse_options(COMMANDS["ls"], ["-Z"])
    with pytest.raises(UsageProblem, match="Not enough arguments: expected 2 but got 1"):
        parse_options(COMMANDS["mv"], ["/a"])
    with pytest.raises(UsageProblem, match="Too many arguments: expected 1 but got 2"):
        parse_options(COMMANDS["head"], ["/a", "/b"])


def test_error_shapes():
    assert error_message(errors.AlreadyExists("/x already exists [namespace ns-a]", "/x"), "x") == "`x': File exists"
    assert error_message(errors.NotFound("gone", "/y"), "/y") == "`/y': No such file or directory"
    assert error_message(errors.NotEmpty("/d is not empty", "/d"), "/d") == "`/d': Directory is not empty"
    assert error_message(errors.CrossNamespace("cannot rename /a (namespace ns-a) to /b (namespace ns-b)"), "/a") \
        == "cannot rename /a (namespace ns-a) to /b (namespace ns-b)"


def test_bad_patterns_name_the_problem():
    with pytest.raises(UsageProblem, match="Unclosed character class"):
        glob_regex("x[1")
