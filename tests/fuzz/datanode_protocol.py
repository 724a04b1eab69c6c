"""Fuzz target: the NameNode's DatanodeProtocol (register, heartbeats, block reports, ...).

It speaks as DataNodes: mostly as fake ones it registers itself (uuids
``DN-fuzz-*`` at addresses nothing listens on), sometimes as the real one.
Whoever holds a DataNode token is trusted with its block map (an empty block
report under the real uuid makes the NameNode forget that DataNode's replicas,
as in HDFS), so this target runs on a cluster of its own and its oracle
tolerates a replica gone missing; bytes that differ are never tolerated.

As a script: ``python -m tests.fuzz.datanode_protocol -max_total_time=60``.
"""
from __future__ import annotations

from protos import security

from tests.fuzz import harness
from tests.fuzz.grpc_target import GrpcTarget
from tests.fuzz.mutate import Hints, Provider, pick

FAKE_UUIDS = [f"DN-fuzz-{i}" for i in range(4)]
TOLERATE_MISSING = True


def hints_for(fc: harness.FuzzCluster) -> Hints:
    real = [d.uuid for d in fc.datanodes]
    blocks = [lb.block for lb in fc.located]
    uuids = FAKE_UUIDS * 2 + real + ["", "DN-unknown"]
    return Hints(
        uuid=uuids, datanode_uuid=uuids, cluster_id=[fc.cluster_id] * 4 + ["", "CID-other"],
        host_label=["fuzz-host", "host-1", "", "elsewhere"],
        transfer_address=["127.0.0.1:1", "127.0.0.1:9", *(d.transfer_address for d in fc.datanodes),
                          "", "nohost", "127.0.0.1:notaport"],
        pool_id=[fc.pool_id, "", "BP-other"],
        block_id=[b.block_id for b in blocks] + [0, 1, 2**63, 2**64 - 1],
        generation_stamp=[b.generation_stamp for b in blocks] + [0, 2**64 - 1],
        num_bytes=[b.num_bytes for b in blocks] + [0, 1, 2**63],
        capacity=[0, 1 << 40, 2**64 - 1], used=[0, 1 << 30, 2**64 - 1], remaining=[0, 1 << 40, 2**64 - 1],
        active_transfers=[0, 1, 2**32 - 1], offsets=[-1, 0, 1, 2**63 - 1, -2**63],
        failed=["", "disk on fire"], token=[*fc.datanode_tokens.values(), fc.user_token, *fc.block_tokens()],
    )


class DatanodeProtocolTarget(GrpcTarget):
    name = "datanode-protocol"
    service = "DatanodeProtocol"

    def __init__(self, fc: harness.FuzzCluster):
        super().__init__(fc.namenode_address, hints_for(fc))
        self.fc = fc
        self.tokens = dict(fc.datanode_tokens)
        self.tokens.update({u: security.datanode_token(fc.secret, u) for u in FAKE_UUIDS})
        self.expired = security.user_token(fc.secret, harness.FUZZ_USER, -60)

    def metadata(self, fdp: Provider, method: str, request: bytes) -> tuple:
        uuid = pick(fdp, list(self.tokens))
        return harness.auth_metadata(fdp, self.tokens[uuid], self.fc.user_token, self.expired, user=uuid)


_target: DatanodeProtocolTarget | None = None


def fuzz_one(data: bytes) -> tuple[str, str]:
    return _target.fuzz_one(data)


def attach(fc: harness.FuzzCluster) -> DatanodeProtocolTarget:
    global _target
    _target = DatanodeProtocolTarget(fc)
    return _target


if __name__ == "__main__":
    from tests.fuzz import script
    script.main("tests.fuzz.datanode_protocol", attach, fuzz_one, tolerate_missing=TOLERATE_MISSING)
