"""`hfed cluster up` options on a cluster that already exists: applied where they can be,
refused (before anything changes) where they cannot.

    --replication R    applied: written to the config as the default replication of new files
                       (existing files keep theirs; `hfed dfs -setrep` changes those)
    --namespaces N     more than there are: the missing ns-* namespaces are added once the
                       cluster runs, as `hfed cluster add-namespace` does; fewer: refused
    --datanodes M      more than there are: host-* DataNodes added to the config and started;
                       fewer: refused, naming the DataNodes that would be dropped
    --racks R          a count other than the [topology] table's racks is refused (edit the table)
    --block-size SIZE  a different one is refused: every existing file keeps the block size it
                       was written with, so a changed default would only look applied; the
                       message says how to change it for new files (block_size in the config)

Only options the user gave count: the parser's defaults are None.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from client.config_edit import ConfigEdit
from client.minicluster import nameservice_names
from protos import config as hconfig
from protos.errors import InvalidArgument


@dataclass
class Plan:
    """What `cluster up` does to an existing cluster for the options given."""
    edit: ConfigEdit | None = None                          # config changes, written before the start
    new_namespaces: list[str] = field(default_factory=list)  # added after the start
    notes: list[str] = field(default_factory=list)           # what was applied, for the user


def plan(config_path: Path, namespaces: int | None, datanodes: int | None, block_size: int | None,
         replication: int | None, racks: int | None = None, emulated: bool = False) -> Plan:
    """The changes the given options ask of the cluster at ``config_path``; InvalidArgument
    naming the config and the option when one cannot be applied (nothing is changed then)."""
    cfg = hconfig.load_as_written(config_path)
    where = f"cluster {config_path.parent}"
    result = Plan()
    refused = []
    if block_size is not None and block_size != cfg.block_size:
        refused.append(
            f"{where} has block size {_size(cfg.block_size)} and every existing file keeps the block size it "
            f"was written with: --block-size {_size(block_size)} not applied. For new files, set "
            f"block_size in {config_path} (or write with hfed dfs -D dfs.blocksize=SIZE -put ...)")
    for option, asked, have, what, held, instead in (
            ("namespaces", namespaces, cfg.nameservices, "namespaces", "the files they hold",
             "move their subtrees away with hfed balance first; a namespace is removed only by hand"),
            ("datanodes", datanodes, cfg.datanodes, "DataNodes", "the replicas they store",
             "decommission them first: [datanodes] exclude and hfed dfsadmin -refreshNodes")):
        if asked is not None and asked < len(have):
            names = sorted(have)
            refused.append(f"{where} has {len(names)} {what} ({', '.join(names)}): --{option} {asked} would "
                           f"drop {', '.join(names[asked:])} and {held}; not done ({instead})")
    if emulated and datanodes is not None and datanodes > len(cfg.datanodes):
        refused.append(f"{where} runs its DataNodes on emulated hosts, made with the cluster: --datanodes "
                       f"{datanodes} not applied (make a new cluster with --emulate-hosts {datanodes})")
    rack_count = len(set(cfg.topology.racks.values()))
    if racks is not None and racks != rack_count:
        refused.append(
            f"{where} has {rack_count or 'no'} racks in its [topology] table: --racks {racks} not applied "
            f"(racks of an existing cluster are set there: host-N = \"/rack-R\" in {config_path})")
    if refused:
        raise InvalidArgument("; and ".join(refused))
    edit = ConfigEdit(config_path)
    if replication is not None and replication != cfg.replication:
        edit.set_top("replication", replication)
        result.notes.append(f"default replication {cfg.replication} -> {replication} for new files "
                            f"(existing files keep theirs; hfed dfs -setrep changes them)")
    if datanodes is not None and datanodes > len(cfg.datanodes):
        for label in _free_names((f"host-{i}" for i in range(1, 10_000)), cfg.datanodes,
                                 datanodes - len(cfg.datanodes)):
            edit.add_datanode(label, str(config_path.parent.resolve() / "data" / label))
            result.notes.append(f"DataNode {label} added")
    if namespaces is not None and namespaces > len(cfg.nameservices):
        if namespaces > 26:
            raise InvalidArgument(f"--namespaces {namespaces}: at most 26 (ns-a .. ns-z)")
        result.new_namespaces = _free_names(nameservice_names(26), cfg.nameservices,
                                            namespaces - len(cfg.nameservices))
        result.notes += [f"namespace {ns} added (mount a path on it: hfed mount -add PATH {ns})"
                         for ns in result.new_namespaces]
    if edit.changes:
        result.edit = edit
    return result


def _free_names(candidates, taken, count: int) -> list[str]:
    names = []
    for name in candidates:
        if len(names) == count:
            break
        if name not in taken:
            names.append(name)
    return names


def _size(n: int) -> str:
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)
