"""Fuzz target: the NameNode's ClientProtocol (hfed.proto), every method, as user ``fuzzer``.

Requests are built from real paths (the sandbox the fuzzing user owns, the
oracle's read-only file, mount points), real block ids, pool id, DataNode uuids
and tokens, then bent (mutate.bend). The caller mostly carries a valid user
token for ``fuzzer`` (never the superuser, so the oracle's file stays out of
its reach by permissions, as any other user's would).

As a script, atheris drives it (libFuzzer keeps a corpus and writes the input
of any failure to a crash-* file): ``python -m tests.fuzz.client_protocol -max_total_time=60``.
"""
from __future__ import annotations

import getpass

from protos import hfed_pb2 as pb

from tests.fuzz import harness
from tests.fuzz.grpc_target import GrpcTarget
from tests.fuzz.mutate import Hints, Provider

CLIENT_NAMES = ["fuzz-client-1", "fuzz-client-2", "", "DFSClient_fuzz"]


def hints_for(fc: harness.FuzzCluster) -> Hints:
    sandbox = harness.SANDBOX
    paths = ["/", "/user", "/tmp", "/data", harness.ORACLE_DIR, harness.ORACLE_FILE, sandbox,
             f"{sandbox}/a", f"{sandbox}/a/b", f"{sandbox}/f", f"{sandbox}/f/", f"{sandbox}/small",
             f"{sandbox}/big", "/tmp/fz", "/.hfed-containers", "/nonexistent/x"]
    blocks = [lb.block for lb in fc.located]
    uuids = [d.uuid for d in fc.datanodes]
    return Hints(
        path=paths, src=paths, dst=paths, start_after=["", "a", "f", "zzz"],
        client_name=CLIENT_NAMES, renewer=["fuzzer", "", "yarn"],
        owner=["fuzzer", "", "nobody", getpass.getuser()], group=["fuzzer", "", "supergroup"],
        user=["fuzzer", "", "nobody"], client_host=["", *(d.host_label for d in fc.datanodes), "elsewhere"],
        excluded_uuids=uuids, datanode_uuid=uuids, pool_id=[fc.pool_id, "", "BP-other"],
        block_id=[b.block_id for b in blocks] + [0, 1], generation_stamp=[b.generation_stamp for b in blocks],
        num_bytes=[b.num_bytes for b in blocks] + [0, 1 << 20],
        container_block_id=[b.block_id for b in blocks], offset=[0, 1, 512, 1 << 20],
        length=[0, 1, 100, 1 << 20, 2**63], permission=[0o644, 0o755, 0o777, 0o1777, 0, 0o7777],
        replication=[0, 1, 2, 3, 512, 2**32 - 1], block_size=[0, 1, 512, 1 << 20, 2**63],
        limit=[0, 1, 2, 1000, 2**32 - 1], lifetime_s=[0, 1, 3600, 2**63],
        mtime_ms=[-1, 0, 1_700_000_000_000], atime_ms=[-1, 0, 2**62],
        token=[fc.user_token, *fc.datanode_tokens.values(), *fc.block_tokens(), ""],
    )


class ClientProtocolTarget(GrpcTarget):
    name = "client"
    service = "ClientProtocol"

    def __init__(self, fc: harness.FuzzCluster):
        super().__init__(fc.namenode_address, hints_for(fc))
        self.fc = fc
        self.wrong_kind = next(iter(fc.datanode_tokens.values()), "")

    def metadata(self, fdp: Provider, method: str, request: bytes) -> tuple:
        return harness.auth_metadata(fdp, self.fc.user_token, self.wrong_kind, self.fc.expired_token)

    def learn(self, method: str, reply) -> None:
        h = self.hints
        if isinstance(reply, pb.CreateResponse) and reply.status.path.startswith(harness.SANDBOX):
            h.add("path", reply.status.path)
        elif isinstance(reply, (pb.AddBlockResponse, pb.OpenContainerResponse)):
            b = reply.block.block
            h.add("block_id", b.block_id)
            h.add("generation_stamp", b.generation_stamp)
            if isinstance(reply, pb.OpenContainerResponse):
                h.add("path", reply.path)
                h.add("container_block_id", b.block_id)
        elif isinstance(reply, pb.GetBlockLocationsResponse):
            for lb in reply.blocks.blocks:
                h.add("block_id", lb.block.block_id)
                if lb.token:
                    h.add("token", lb.token)
        elif isinstance(reply, pb.GetDelegationTokenResponse) and reply.token:
            h.add("token", reply.token)


_target: ClientProtocolTarget | None = None


def fuzz_one(data: bytes) -> tuple[str, str]:
    """One input against the cluster ``attach`` set up (atheris and pytest entry point)."""
    return _target.fuzz_one(data)


def attach(fc: harness.FuzzCluster) -> ClientProtocolTarget:
    global _target
    _target = ClientProtocolTarget(fc)
    return _target


if __name__ == "__main__":
    from tests.fuzz import script
    script.main("tests.fuzz.client_protocol", attach, fuzz_one)
