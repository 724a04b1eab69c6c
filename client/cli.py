"""The `hfed` command, shaped like `hdfs`:

    hfed [--conf PATH] dfs -ls [-R] [-h] [-d] [PATH...]     (and -mkdir, -put, -get, -cat, ...)
    hfed [--conf PATH] fsck PATH [-files [-blocks [-locations]]]
    hfed [--conf PATH] archive PATH...                       (pack the small files under PATH in place)
    hfed [--conf PATH] dfsadmin -report | -safemode get|enter|leave|wait | -saveNamespace  [-ns NS]
    hfed [--conf PATH] dfsadmin -fetchToken USER FILE [-lifetime DAYS]
    hfed [--conf PATH] dfsadmin -setQuota N DIR... | -clrQuota DIR... (-setSpaceQuota SIZE, -clrSpaceQuota)
    hfed [--conf PATH] fetchdt [-renewer USER] FILE | -renew FILE | -cancel FILE | -print FILE
    hfed [--conf PATH] groups
    hfed [--conf PATH] mount -ls | -add PATH NS [-readonly] | -rm PATH
    hfed [--conf PATH] balance PATH NS [-forceCloseOpen] | -continue | -abort | -ls
    hfed cluster add-namespace NS [--dir DIR]
    hfed cluster which
    hfed cluster up|down|status [--dir DIR] [--namespaces N] [--datanodes M] [--block-size SIZE] [--replication R]
                                 [--racks R] [--emulate-hosts N [--link RATE]]
    hfed [--conf PATH] namenode --nameservice NS    /   hfed [--conf PATH] datanode [--host-label NAME]
    hfed [--conf PATH] webhdfs [--address-file F] [--bind HOST:PORT]   |   hfed webhdfs -token
    hfed [--conf PATH] tf-run --workers N [--hosts H,...] [--input GLOB] [--job-dir DIR] -- CMD ARGS...
    hfed tf-gate --history FILE|hfed:///PATH [--metric M] [--tolerance T] RESULT.json

The config is --conf, else $HFED_CONF, else the one the last `hfed cluster up` named in the pointer
$HFED_HOME/current (HFED_HOME default ~/.hfed), else $HFED_HOME/cluster/hfed.toml: `hfed cluster which`
prints it and why, `hfed -v COMMAND` too (on stderr).
Exit codes: 0 ok, 1 the operation failed (one line on stderr: `hfed: <message>`), 2 usage error
(`hfed dfs` as `hdfs dfs`: ``CMD: `PATH': reason`` and 1; usage errors 255).
Relative paths are taken from the user's home directory /user/<name>, as in HDFS.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

from client import balance, cli_format as fmt, cli_fsck, cli_quota, cli_report, cli_tf, cli_tokens, mount_admin
from client.cli_dfs import CommandError, Context, Parser, UsageError, absolute, progress, run_dfs
from client.session import ClusterSession
from protos import cluster_state, config as hconfig
from protos import hfed_pb2 as pb

USAGE = """usage: hfed [-v] [--conf PATH] COMMAND ...

commands:
  dfs [-D KEY=VALUE]... -CMD ARGS...
                         filesystem commands, as `hdfs dfs`: -ls -mkdir -put -get -cat -text -rm -mv
                         -cp -du -df -count -stat -find -getmerge -touch -test -chmod -checksum
                         -expunge ... (hfed dfs -help; its usage errors exit 255, as HDFS)
  fsck PATH [-files [-blocks [-locations | -racks]]] [-openforwrite] [-list-corruptfileblocks]
           [-delete | -move]
                         check the blocks under PATH (computed by the client)
  archive PATH...        pack the small files under PATH into container blocks, in place
  dfsadmin -report [-live] [-dead] [-decommissioning]
                         capacity and DataNodes (HDFS's fields), then each namespace
  dfsadmin -refreshNodes every NameNode re-reads [datanodes] exclude (decommissioning)
  dfsadmin -safemode get|enter|leave|wait    safe mode of every namespace (or -ns NS)
  dfsadmin -saveNamespace                    write a checkpoint image now
  dfsadmin -printTopology                    each rack and its DataNodes ([topology] in the config)
  dfsadmin -fetchToken USER FILE [-lifetime DAYS]
                         superuser: issue USER a token (USER then sets HFED_TOKEN_FILE=FILE)
  dfsadmin -setQuota N DIR... | -clrQuota DIR...
                         name quota: files + directories under DIR, DIR included (superuser)
  dfsadmin -setSpaceQuota SIZE DIR... | -clrSpaceQuota DIR...
                         space quota: bytes x replication, SIZE like 10g or 1t (superuser)
  fetchdt [-renewer USER] FILE | -renew FILE | -cancel FILE | -print FILE
                         delegation tokens for a job's processes (they set HFED_TOKEN_FILE=FILE)
  groups                 the user and groups the NameNodes take you to be, and the security mode
  mount -ls | -add PATH NS [-readonly] | -rm PATH
                         show or change the cluster mount table (changes: superuser)
  balance PATH NS [-forceCloseOpen] | -continue | -abort | -ls
                         move the subtree PATH to namespace NS, online, copying no bytes (superuser)
  cluster up|down|status start, stop or show a local cluster (hfed cluster -h)
  cluster which          the config commands use here, and why
  cluster add-namespace NS       start one more NameNode in the running local cluster
  namenode --nameservice NS      run a NameNode in the foreground
  datanode [--host-label NAME]   run a DataNode in the foreground (default: the [datanodes.NAME]
                                 whose address is this machine's)
  webhdfs [--address-file F] [--bind HOST:PORT]
                         run the WebHDFS gateway in the foreground (`cluster up` starts one)
  webhdfs -token         print your token for WebHDFS's delegation= parameter
  tf-run --workers N [--hosts H,...] [--input GLOB] [--job-dir DIR] -- CMD ARGS...
                         run a training script on N workers (TF_CONFIG, host labels, one input
                         plan, job tokens); exits with a failed worker's exit code
  tf-gate --history FILE|hfed:///PATH [--metric M] [--tolerance T] RESULT.json
                         exit 1 when RESULT is worse than the history's best minus T

options:
  --conf PATH            cluster config (default: $HFED_CONF, else the last `hfed cluster up`)
  -v, --verbose          print the config used, and why, on stderr
"""



# ------------------------------------------------------------ other commands

def run_fsck(ctx, args) -> int:
    parser = Parser("hfed fsck", description="check the blocks of every file under PATH (as HDFS's fsck)")
    parser.add_argument("path")
    parser.add_argument("-files", action="store_true", help="print each file checked")
    parser.add_argument("-blocks", action="store_true", help="print each file's blocks (with -files)")
    parser.add_argument("-locations", action="store_true", help="print each block's DataNodes (with -blocks)")
    parser.add_argument("-racks", action="store_true", help="print each block's DataNodes as rack/address")
    parser.add_argument("-openforwrite", action="store_true", help="check files being written too")
    parser.add_argument("-list-corruptfileblocks", dest="list_corrupt", action="store_true",
                        help="only list the missing blocks and the files they belong to")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("-delete", action="store_true", help="delete corrupt files")
    action.add_argument("-move", action="store_true",
                        help="move corrupt files to lost+found (at the top of their mount)")
    a = parser.parse_args(args)
    path = absolute(a.path)
    options = cli_fsck.FsckOptions(files=a.files, blocks=a.blocks, locations=a.locations, racks=a.racks,
                                   openforwrite=a.openforwrite, list_corrupt=a.list_corrupt,
                                   delete=a.delete, move=a.move)
    try:
        healthy = cli_fsck.fsck(ctx.fs, path, ctx.config(), out=sys.stdout, options=options)
    except (OSError, ValueError) as e:
        raise CommandError("fsck", e) from e
    return 0 if healthy else 1


def run_archive(ctx, args) -> int:
    parser = Parser("hfed archive", description="pack the small files under each PATH into container blocks "
                                                "(they keep their paths); files written with -D pack=false, "
                                                "or before packing was on, get packed")
    parser.add_argument("paths", metavar="PATH", nargs="+")
    a = parser.parse_args(args)
    failed = 0
    for path in (absolute(p) for p in a.paths):
        callback = progress(f"archive {path}")
        try:
            result = ctx.fs.archive(path, callback=callback)
        except (OSError, ValueError) as e:
            print(f"hfed: archive: {fmt.describe(e)}", file=sys.stderr)
            failed += 1
            continue
        finally:
            if hasattr(callback, "close"):
                callback.close()
        print(fmt.archive_summary(path, result))
        for where, error in result.errors:
            message = fmt.describe(error)
            print(f"hfed: archive: {message if where in message else f'{fmt.printable(where)}: {message}'}",
                  file=sys.stderr)
        failed += bool(result.errors)
    return 1 if failed else 0


REPORT_FILTERS = ("live", "dead", "decommissioning")


def run_dfsadmin(ctx, args) -> int:
    if args and args[0] in cli_quota.COMMANDS:
        return cli_quota.run(ctx, args)
    parser = Parser("hfed dfsadmin", description="cluster administration")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("-report", action="store_true", help="capacity and DataNodes, as HDFS; then each namespace")
    what.add_argument("-refreshNodes", action="store_true",
                      help="every NameNode re-reads [datanodes] exclude: decommission or recommission DataNodes")
    what.add_argument("-safemode", choices=["get", "enter", "leave", "wait"],
                      help="show, enter or leave safe mode, or wait until it is off")
    what.add_argument("-saveNamespace", action="store_true", help="write a checkpoint image now")
    what.add_argument("-printTopology", action="store_true", help="each rack and its DataNodes, as HDFS")
    what.add_argument("-fetchToken", nargs=2, metavar=("USER", "FILE"),
                      help="superuser: issue USER a token, saved as a credentials file")
    parser.add_argument("-lifetime", type=float, metavar="DAYS", help="of the token of -fetchToken")
    parser.add_argument("-ns", metavar="NAMESERVICE", help="only this namespace (default: all)")
    for which in REPORT_FILTERS:
        parser.add_argument(f"-{which}", action="store_true", help=f"-report: only the {which} DataNodes")
    a = parser.parse_args(args)
    which = {w for w in REPORT_FILTERS if getattr(a, w)}
    if which and not a.report:
        raise UsageError(f"dfsadmin: -{' -'.join(sorted(which))} go with -report")
    if a.fetchToken:
        return cli_tokens.fetch_user_token(ctx, a.fetchToken[0], a.fetchToken[1], a.lifetime)
    if a.report:
        try:
            down = cli_report.dfsadmin_report(ctx.config(), ctx.session.stats(), out=sys.stdout, which=which)
        except (OSError, ValueError) as e:
            raise CommandError("dfsadmin", e) from e
        for ns in down:
            print(f"hfed: dfsadmin: namespace {ns} is DOWN", file=sys.stderr)
        return 0
    if a.printTopology:
        down = cli_report.print_topology(ctx.session.stats(), out=sys.stdout)
        for ns in down:
            print(f"hfed: dfsadmin: namespace {ns} is DOWN (its DataNodes may be missing above)", file=sys.stderr)
        return 0
    names = [a.ns] if a.ns else sorted(ctx.config().nameservices)
    failed = 0
    for ns in names:
        try:
            nn = ctx.session.namenode(ns)
            if a.refreshNodes:
                print("\n".join(cli_report.refresh_lines(ns, nn.call("RefreshNodes", pb.RefreshNodesRequest()))))
                continue
            if a.saveNamespace:
                reply = nn.save_namespace()
                print(f"Save namespace successful for {ns}: image at txid {reply.txid} ({reply.image})")
                continue
            action = {"get": "GET", "wait": "GET", "enter": "ENTER", "leave": "LEAVE"}[a.safemode]
            state = nn.set_safe_mode(getattr(pb.SafeModeRequest, action))
            while a.safemode == "wait" and state.on:
                time.sleep(0.5)
                state = nn.set_safe_mode(pb.SafeModeRequest.GET)
            print(f"Safe mode is {'ON' if state.on else 'OFF'} in {ns}"
                  + (f" ({state.reason})" if state.on else ""))
        except (OSError, ValueError) as e:
            print(f"hfed: dfsadmin: {ns}: {fmt.describe(e)}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def run_webhdfs(ctx, args) -> int:
    """hfed webhdfs: run the gateway in the foreground; -token: print the caller's token for it."""
    if args == ["-token"]:
        from client.webhdfs.auth import delegation_param
        creds = ctx.session.credentials
        if not ctx.config().security.tokens:
            raise CommandError("webhdfs", ValueError("security is off on this cluster: WebHDFS callers say who "
                                                     "they are with user.name="))
        if not creds.tokens:
            raise CommandError("webhdfs", PermissionError("you have no token for this cluster: ask the superuser "
                                                          "for one (hfed dfsadmin -fetchToken USER FILE)"))
        print(delegation_param(creds.tokens))
        return 0
    conf = str(ctx.conf_path)
    if not Path(conf).exists():
        raise FileNotFoundError(f"hfed config {conf} does not exist (start a cluster with `hfed cluster up`)")
    from client.webhdfs import gateway
    return gateway.main(["--conf", conf, *args])


def run_daemon(ctx, role: str, args: list[str]) -> int:
    """hfed namenode/datanode: become the daemon (exec, so signals reach it directly)."""
    flag = "--nameservice" if role == "namenode" else "--host-label"
    # A DataNode without --host-label runs the section whose address is this machine's.
    if role == "namenode" and flag not in args and not any(x.startswith(flag + "=") for x in args):
        raise UsageError(f"{role}: {flag} is required", f"usage: hfed [--conf PATH] {role} {flag} NAME")
    conf = str(ctx.conf_path)
    if not Path(conf).exists():
        raise FileNotFoundError(f"hfed config {conf} does not exist (start a cluster with `hfed cluster up`)")
    module = "namenode.server" if role == "namenode" else "datanode.server"
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", module, "--conf", conf, *args])
    return 1  # not reached


def cluster_dir(ctx, a) -> Path:
    """--dir; else, except for up, the cluster of the config commands use (cluster which);
    else DEFAULT_HOME/cluster."""
    if a.dir:
        return Path(a.dir)
    if a.action != "up":
        conf = ctx.conf_path
        if conf.exists() and (conf.parent / "run").is_dir():
            return conf.parent
    return hconfig.DEFAULT_HOME / "cluster"


NEW_CLUSTER_DEFAULTS = {"namespaces": 2, "datanodes": 3, "block_size": 128 << 20, "replication": 3, "racks": 0}


def run_cluster(ctx, args) -> int:
    from client.minicluster import MiniCluster

    parser = Parser("hfed cluster", description="a local cluster: one process per NameNode and DataNode")
    parser.add_argument("action", choices=["up", "down", "status", "add-namespace", "which"])
    parser.add_argument("name", nargs="?", help="add-namespace: the new namespace's name")
    parser.add_argument("--dir", help=f"cluster directory (default {hconfig.DEFAULT_HOME / 'cluster'})")
    # No defaults here: on an existing cluster only the options given are requests (cluster_options.py).
    parser.add_argument("--namespaces", type=int, help="NameNodes, one per namespace (new cluster: 2; "
                                                       "existing: more are added, fewer refused)")
    parser.add_argument("--datanodes", type=int, help="DataNodes host-1..host-M (new cluster: 3; "
                                                      "existing: more are added, fewer refused)")
    parser.add_argument("--block-size", help="default block size, e.g. 64M (new cluster: 128M; "
                                             "existing: a different one is refused)")
    parser.add_argument("--replication", type=int, help="default replication of new files (new cluster: 3; "
                                                        "existing: written to its config)")
    parser.add_argument("--racks", type=int,
                        help="put host-1..host-M round-robin on racks /rack-1../rack-R (new cluster: 0, no "
                             "racks; existing: its [topology] table decides, a different count is refused)")
    parser.add_argument("--emulate-hosts", type=int, metavar="N",
                        help="N DataNodes, each in its own network namespace with its own 198.18.x.y address "
                             "(root only; new cluster)")
    parser.add_argument("--link", default="1gbit", help="with --emulate-hosts: each host's link rate, e.g. 1gbit")
    parser.add_argument("-h", "--help", action="help", help="show this help")
    a = parser.parse_args(args)
    if a.action == "which":
        return run_cluster_which(ctx)
    try:
        if a.block_size is not None:
            hconfig.parse_size(a.block_size)
    except ValueError as e:
        raise UsageError(f"cluster: --block-size: {e}")
    if (a.namespaces is not None and not 1 <= a.namespaces <= 26) or (a.datanodes is not None and a.datanodes < 1) \
            or (a.replication is not None and a.replication < 1) or (a.emulate_hosts or 0) < 0:
        raise UsageError("cluster: --namespaces must be 1..26, --datanodes and --replication at least 1, "
                         "--emulate-hosts not negative")
    directory = cluster_dir(ctx, a)
    if ctx.verbose:
        why = ("--dir" if a.dir else f"the default of `cluster up` ({hconfig.DEFAULT_HOME / 'cluster'})"
               if a.action == "up" or directory != ctx.conf_path.parent else f"config {ctx.choice().reason}")
        print(f"hfed: config {directory / 'hfed.toml'} (cluster directory from {why})", file=sys.stderr)
    if a.action == "up":
        return cluster_up(directory, a)
    cluster = MiniCluster(directory)
    if cluster.config is None:
        raise FileNotFoundError(f"no cluster in {directory} ({directory / 'hfed.toml'} does not exist)")
    if a.action == "add-namespace":
        if not a.name:
            raise UsageError("cluster add-namespace: name the new namespace, e.g. hfed cluster add-namespace ns-c")
        address = cluster.add_namespace(a.name)
        print(f"namespace {a.name} serving on {address}; every running DataNode registered with it. "
              f"Mount a path on it (hfed mount -add PATH {a.name}) or move a subtree to it "
              f"(hfed balance PATH {a.name})")
        return 0
    if a.action == "down":
        running = sum(row["alive"] for row in cluster.status())
        cluster.down()
        print(f"hfed cluster in {cluster.dir} stopped ({running} daemons were running)")
        return 0
    fmt.cluster_status(cluster, out=sys.stdout, stats=namenode_stats(cluster))
    return 0


def cluster_up(directory: Path, a) -> int:
    """`hfed cluster up`: a new cluster with the options (or their defaults), or the existing
    one in ``directory`` with the options given applied or refused (client/cluster_options.py)."""
    from client import cluster_options
    from client.minicluster import MiniCluster

    block_size = None if a.block_size is None else hconfig.parse_size(a.block_size)
    config_path = directory / "hfed.toml"
    if not config_path.exists():
        given = {"namespaces": a.namespaces, "datanodes": a.datanodes, "block_size": block_size,
                 "replication": a.replication, "racks": a.racks}
        options = {k: NEW_CLUSTER_DEFAULTS[k] if v is None else v for k, v in given.items()}
        hosts = a.emulate_hosts or options["datanodes"]
        if not 0 <= options["racks"] <= hosts:
            raise UsageError(f"cluster: --racks must be 0 (no racks) to {hosts} (at most one rack "
                             f"per DataNode), got {options['racks']}")
        cluster = MiniCluster(directory, write_pointer=True, emulate_hosts=a.emulate_hosts or 0, link=a.link,
                              **options)
        cluster.up()
        fmt.cluster_started(cluster, out=sys.stdout)
        return 0
    # An existing cluster keeps its emulated hosts (or their absence: MiniCluster refuses).
    cluster = MiniCluster(directory, write_pointer=True, emulate_hosts=a.emulate_hosts or 0, link=a.link)
    plan = cluster_options.plan(config_path, a.namespaces, a.datanodes, block_size, a.replication, a.racks,
                                emulated=cluster.emulation is not None)
    cluster.refuse_if_running()
    if plan.edit:
        plan.edit.save()
    try:
        cluster.up()
    except BaseException:
        if plan.edit:
            plan.edit.restore()   # a start that failed leaves the user's config as it was
        raise
    for ns in plan.new_namespaces:
        cluster.add_namespace(ns)
    fmt.cluster_started(cluster, out=sys.stdout, applied=plan.notes)
    return 0


def run_cluster_which(ctx) -> int:
    """`hfed cluster which`: the config commands use here, and why (the rule of choose_config)."""
    choice = ctx.choice()
    print(choice.path)
    print(f"  why: {choice.reason}")
    if not choice.path.exists():
        print(f"  (it does not exist: start a cluster with `hfed cluster up`)")
    else:
        print(f"  runtime state: {cluster_state.state_path(choice.path)}")
    return 0


def namenode_stats(cluster) -> dict:
    """{nameservice: GetStatsResponse or the error} of each running NameNode."""
    running = [row["name"] for row in cluster.status() if row["role"] == "namenode" and row["alive"]]
    if not running:
        return {}
    session = ClusterSession(cluster.config_path)
    result = {}
    try:
        for ns in running:
            try:
                result[ns] = session.namenode(ns).get_stats()
            except OSError as e:      # hfed errors are OSErrors too
                result[ns] = e
    finally:
        session.close()
    return result


def main_dispatch(argv: list[str]) -> int:
    conf = None
    args = list(argv)
    verbose = False
    while args and (args[0].startswith("--") or args[0] == "-v"):
        opt = args.pop(0)
        if opt in ("--help", "-h"):
            print(USAGE)
            return 0
        if opt in ("-v", "--verbose"):
            verbose = True
        elif opt == "--conf" and args:
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
    ctx = Context(conf, verbose=verbose)
    if verbose and command != "cluster":   # `cluster` names the directory it acts on itself
        print_config_used(ctx)
    handlers = {"dfs": run_dfs, "fsck": run_fsck, "archive": run_archive, "dfsadmin": run_dfsadmin, "cluster": run_cluster,
                "fetchdt": cli_tokens.run_fetchdt, "groups": cli_tokens.run_groups,
                "mount": mount_admin.run_mount, "balance": balance.run_balance,
                "webhdfs": run_webhdfs, "tf-run": cli_tf.run_tf_run, "tf-gate": cli_tf.run_tf_gate, "namenode": lambda c, r: run_daemon(c, "namenode", r),
                "datanode": lambda c, r: run_daemon(c, "datanode", r)}
    if command not in handlers:
        raise UsageError(f"unknown command {command!r}", USAGE.strip())
    try:
        return handlers[command](ctx, rest)
    finally:
        ctx.close()


def print_config_used(ctx) -> None:
    """-v: one line on stderr naming the config this command uses and why."""
    try:
        choice = ctx.choice()
    except OSError as e:
        print(f"hfed: config: {e}", file=sys.stderr)
        return
    print(f"hfed: config {choice.path} ({choice.reason})", file=sys.stderr)


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
