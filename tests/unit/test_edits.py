"""Edit records: every kind round-trips, and the bytes are those earlier versions wrote."""
from pathlib import Path

import numpy as np
import pytest

from protos import hfed_pb2 as pb
from namenode import editlog, edits, ops
from namenode.small_files import Layout

UPGRADE_EDITS = Path(__file__).resolve().parents[1] / "data" / "hfed-0.1-small-files" / "meta" / "ns-a"

CREATE = edits.Create("/user/a/f", 0o644, "alice", "staff", 1_700_000_000_000, False, True, 3, 128 << 20, "c1")
EXAMPLES = [
    edits.Mkdirs("/user/a", 0o755, "alice", "staff", 1_700_000_000_000, True),
    edits.Delete("/user/a/f", False, 5),
    edits.Rename("/user/a/f", "/user/a/g", 6),
    CREATE,
    edits.AddBlock("/user/a/f", "c1", 1 << 30, 1000, None),
    edits.AddBlock("/user/a/f", "c1", (1 << 30) + 1, 1001, (1 << 30, 128 << 20)),
    edits.Complete("/user/a/f", "c1", ((1 << 30) + 1, 17), 7),
    edits.Complete("/user/a/empty", "c1", None, 7),
    edits.AbandonBlock("/user/a/f", "c1", 1 << 30),
    edits.RecoverLease("/user/a/f", "c1", None, 8),
    edits.RecoverLease("/user/a/f", "c1", 4096, 8),
    edits.SetReplication("/user/a/f", 2),
    edits.SetPermission("/user/a/f", 0o1777),
    edits.SetOwner("/user/a/f", "", "wheel"),
    edits.SetTimes("/user/a/f", -1, 9),
    edits.CommitSmall("/user/a/s", "c1", 1 << 30, 0, 100, 0xDEADBEEF, 10, None, None),
    edits.CommitSmall("/user/a/f", "c1", 1 << 30, 512, 100, 1, 10, CREATE, None),
    edits.CommitSmall("/user/a/old", "c1", 1 << 30, 1024, 100, 2, 10, None, (42, 11)),
    edits.Packed.of("/.hfed-containers/p1", 1 << 31, np.array([[5, 6], [1, 1], [0, 512], [0, 116], [100, 7]])),
    edits.CompleteSmall("/user/a/s", "c1", 12, "QUFBQQ=="),
    edits.StageFile("/user/a/s", "QUFBQQ=="),
    edits.Pack("/.hfed-containers/c1", 1 << 30, (("/user/a/s", 5, 0, 4), ("/user/a/t", 6, 4, 2))),
    edits.Restage(1 << 30, (("/user/a/s", 5, "QUFBQQ=="),)),
    edits.ImportSubtree("/data/p", "m1", "BP-a", '[{"path":"","type":"dir"}]', ("/data/p/x",),
                        ((1 << 30, (1 << 30) + 7),), 13),
    edits.DropSubtree("/data/p", "m1", 14),
    edits.ForgetMove("m1"),
    edits.Append("/user/a/f", "c2"),
    edits.SetQuota("/user/a", 10, -1),
]


def test_every_kind_round_trips_and_has_an_apply_function():
    assert {type(r) for r in EXAMPLES} == set(edits.Edit.KINDS.values()) == set(ops.APPLY)
    for record in EXAMPLES:
        assert edits.decode(record.encode()) == record, record.kind


def test_records_are_the_json_earlier_versions_wrote():
    assert CREATE.encode() == (b'{"op":"create","path":"/user/a/f","perm":420,"owner":"alice","group":"staff",'
                               b'"mtime":1700000000000,"overwrite":false,"parents":true,"replication":3,'
                               b'"block_size":134217728,"client":"c1"}')
    assert edits.Complete("/f", "c1", (7, 17), 7).encode() == \
        b'{"op":"complete","path":"/f","client":"c1","last":[7,17],"mtime":7}'
    nested = edits.decode(EXAMPLES[16].encode())
    assert isinstance(nested.create, edits.Create) and nested.create == CREATE


def test_an_upgraded_edit_log_decodes_and_encodes_byte_for_byte():
    [segment] = [s for s in editlog.list_segments(UPGRADE_EDITS)]
    scanned = editlog.scan(segment.path, segment.path.read_bytes(), segment.first, False, False)
    kinds = set()
    for _txid, payload in scanned.records:
        record = edits.decode(payload)
        kinds.add(record.kind)
        assert record.encode() == payload
    assert {"create", "complete_small", "add_block", "complete"} <= kinds


def test_packed_columns_survive_the_record():
    columns = np.array([[5, 6], [1, 1], [0, 512], [0, 116], [100, 7]])
    assert (edits.decode(edits.Packed.of("/c", 1, columns).encode()).columns() == columns).all()


@pytest.mark.parametrize("payload, message", [
    (b'{"op":"chmod","path":"/a"}', "not a known edit"),
    (b'{"op":"set_replication","path":"/a"}', "set_replication edit has fields"),
    (b'{"op":"set_replication","path":"/a","replication":2,"extra":1}', "set_replication edit has fields"),
    (b'[1,2]', "not a known edit"),
    (b'{"op":"mkd', "Unterminated string"),
])
def test_damaged_records_are_refused_clearly(payload, message):
    with pytest.raises(ValueError, match=message):
        edits.decode(payload)


def test_layout_values_are_the_wire_values():
    assert {m.name: m.value for m in Layout} == dict(pb.FileLayout.items())
