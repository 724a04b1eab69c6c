"""The `hfed` command, shaped like `hdfs`:

    hfed [--conf PATH] dfs -ls [-R] [-h] [-d] [PATH...]     (and -mkdir, -put, -get, -cat, ...)
    hfed [--conf PATH] fsck PATH [-files [-blocks [-locations]]]
    hfed [--conf PATH] dfsadmin -report
    hfed cluster up|down|status [--dir DIR] [--namespaces N] [--datanodes M] [--block-size SIZE] [--replication R]
    hfed [--conf PATH] namenode --nameservice NS    /   hfed [--conf PATH] datanode --host-label LABEL

The config is --conf, else $HFED_CONF, else the one the last `hfed cluster up` wrote.
Exit codes: 0 ok, 1 the operation failed (one line on stderr: `hfed: <message>`), 2 usage error.
Relative paths are taken from the user's home directory /user/<name>, as in HDFS.
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from client import cli_format as fmt
from client.cli_dfs import CommandError, Context, Parser, UsageError, absolute, run_dfs
from protos import config as hconfig

USAGE = """usage: hfed [--conf PATH] COMMAND ...

commands:
  dfs -CMD ARGS...       filesystem commands: -ls -mkdir -put -get -cat -head -tail -rm -rmdir -mv -cp
                         -du -count -stat -setrep -chmod -chown -chgrp -test -touchz (hfed dfs -help)
  fsck PATH [-files [-blocks [-locations]]]
                         check the blocks under PATH (computed by the client)
  dfsadmin -report       per-namespace report with live and dead DataNodes
  cluster up|down|status start, stop or show a local cluster (hfed cluster -h)
  namenode --nameservice NS      run a NameNode in the foreground
  datanode --host-label LABEL    run a DataNode in the foreground

options:
  --conf PATH            cluster config (default: $HFED_CONF, else the last `hfed cluster up`)
"""



# ------------------------------------------------------------ other commands

def run_fsck(ctx, args) -> int:
    parser = Parser("hfed fsck", description="check the blocks of every file under PATH")
    parser.add_argument("path")
    parser.add_argument("-files", action="store_true", help="print each file checked")
    parser.add_argument("-blocks", action="store_true", help="print each file's blocks (with -files)")
    parser.add_argument("-locations", action="store_true", help="print each block's DataNodes (with -blocks)")
    a = parser.parse_args(args)
    path = absolute(a.path)
    try:
        healthy = fmt.fsck(ctx.fs, path, ctx.config(), files=a.files, blocks=a.blocks,
                           locations=a.locations, out=sys.stdout)
    except (OSError, ValueError) as e:
        raise CommandError("fsck", e) from e
    return 0 if healthy else 1


def run_dfsadmin(ctx, args) -> int:
    parser = Parser("hfed dfsadmin", description="cluster administration")
    parser.add_argument("-report", action="store_true", required=True,
                        help="per-namespace statistics and DataNodes")
    parser.parse_args(args)
    try:
        down = fmt.dfsadmin_report(ctx.config(), ctx.fs.stats(), out=sys.stdout)
    except (OSError, ValueError) as e:
        raise CommandError("dfsadmin", e) from e
    for ns in down:
        print(f"hfed: dfsadmin: namespace {ns} is DOWN", file=sys.stderr)
    return 0


def run_daemon(ctx, role: str, args: list[str]) -> int:
    """hfed namenode/datanode: become the daemon (exec, so signals reach it directly)."""
    flag = "--nameservice" if role == "namenode" else "--host-label"
    if flag not in args and not any(x.startswith(flag + "=") for x in args):
        raise UsageError(f"{role}: {flag} is required", f"usage: hfed [--conf PATH] {role} {flag} NAME")
    conf = str(ctx.conf_path)
    if not Path(conf).exists():
        raise FileNotFoundError(f"hfed config {conf} does not exist (start a cluster with `hfed cluster up`)")
    module = "namenode.server" if role == "namenode" else "datanode.server"
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", module, "--conf", conf, *args])
    return 1  # not reached


def cluster_dir(ctx, a) -> Path:
    """--dir; else, for down/status, the cluster the config points at; else DEFAULT_HOME/cluster."""
    if a.dir:
        return Path(a.dir)
    if a.action != "up":
        conf = ctx.conf_path
        if conf.exists() and (conf.parent / "run").is_dir():
            return conf.parent
    return hconfig.DEFAULT_HOME / "cluster"


def run_cluster(ctx, args) -> int:
    from client.minicluster import MiniCluster

    parser = Parser("hfed cluster", description="a local cluster: one process per NameNode and DataNode")
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--dir", help=f"cluster directory (default {hconfig.DEFAULT_HOME / 'cluster'})")
    parser.add_argument("--namespaces", type=int, default=2, help="NameNodes, one per namespace (new cluster)")
    parser.add_argument("--datanodes", type=int, default=3, help="DataNodes host-1..host-M (new cluster)")
    parser.add_argument("--block-size", default="128M", help="default block size, e.g. 64M (new cluster)")
    parser.add_argument("--replication", type=int, default=3, help="default replication (new cluster)")
    parser.add_argument("-h", "--help", action="help", help="show this help")
    a = parser.parse_args(args)
    try:
        block_size = hconfig.parse_size(a.block_size)
    except ValueError as e:
        raise UsageError(f"cluster: --block-size: {e}")
    if not 1 <= a.namespaces <= 26 or a.datanodes < 1 or a.replication < 1:
        raise UsageError("cluster: --namespaces must be 1..26, --datanodes and --replication at least 1")
    directory = cluster_dir(ctx, a)
    cluster = MiniCluster(directory, namespaces=a.namespaces, datanodes=a.datanodes, block_size=block_size,
                          replication=a.replication, write_pointer=True)
    if a.action == "up":
        cluster.up()
        fmt.cluster_started(cluster, out=sys.stdout)
        return 0
    if cluster.config is None:
        raise FileNotFoundError(f"no cluster in {directory} ({directory / 'hfed.toml'} does not exist)")
    if a.action == "down":
        running = sum(row["alive"] for row in cluster.status())
        cluster.down()
        print(f"hfed cluster in {cluster.dir} stopped ({running} daemons were running)")
        return 0
    fmt.cluster_status(cluster, out=sys.stdout)
    return 0


def main_dispatch(argv: list[str]) -> int:
    conf = None
    args = list(argv)
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt in ("--help", "-h"):
            print(USAGE)
            return 0
        if opt == "--conf" and args:
            conf = args.pop(0)
        elif opt.startswith("--conf="):
            conf = opt.split("=", 1)[1]
        else:
            raise UsageError(f"unknown option {opt!r}")
    if args and args[0] in ("-h", "help"):
        print(USAGE)
        return 0
    if not args:
        raise UsageError("no command given", USAGE.strip())
    command, rest = args[0], args[1:]
    ctx = Context(conf)
    handlers = {"dfs": run_dfs, "fsck": run_fsck, "dfsadmin": run_dfsadmin, "cluster": run_cluster,
                "namenode": lambda c, r: run_daemon(c, "namenode", r),
                "datanode": lambda c, r: run_daemon(c, "datanode", r)}
    if command not in handlers:
        raise UsageError(f"unknown command {command!r}", USAGE.strip())
    return handlers[command](ctx, rest)


def run(argv: list[str] | None = None) -> int:
    """Run one hfed command; returns the exit code (what main() exits with)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        return main_dispatch(argv)
    except UsageError as e:
        print(f"hfed: {e}", file=sys.stderr)
        if e.usage:
            print(e.usage, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hfed: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (hfed dfs -cat big | head): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as e:  # noqa: BLE001 - the CLI's promise is one line, never a traceback
        print(f"hfed: {e if isinstance(e, CommandError) else fmt.describe(e)}", file=sys.stderr)
        if os.environ.get("HFED_DEBUG"):
            traceback.print_exc()
        return 1


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
