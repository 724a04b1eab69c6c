"""Attacks on identity, as a stranger on the same machine would try them (issue: nobody gets in
who does not belong). A stranger is a process that cannot read the cluster secret: it has the
config (and the CA certificate), nothing else. Every attack must change nothing and read nothing.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import sys
import time

import grpc
import pytest

from client.fs import HfedFileSystem
from client.minicluster import wait_for
from protos import config as hconfig, hfed_pb2 as pb, hfed_pb2_grpc as pb_grpc, rpc, security

SECRET_BYTES = b"the victim's words\n"


def stranger_config(mc, directory) -> str:
    """The cluster's config as another local account sees it: the secret is out of reach."""
    cfg = mc.config
    sec = dataclasses.replace(cfg.security, secret_file=str(directory / "unreadable" / "secret"),
                              tls_dir=str(cfg.tls_path()))
    path = directory / "hfed.toml"
    path.write_text(hconfig.dump(dataclasses.replace(cfg, security=sec)))
    return str(path)


def hfed(env, conf, *args, **extra_env):
    proc = subprocess.run([sys.executable, "-m", "client.cli", "--conf", conf, *args],
                          env={**env, **extra_env}, capture_output=True, timeout=60)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def channel(mc, ns: str = "ns-a") -> grpc.Channel:
    return rpc.channel(mc.namenode_address(ns), mc.config)


def call(mc, method: str, request, metadata, ns: str = "ns-a", service=pb_grpc.ClientProtocolStub):
    with channel(mc, ns) as ch:
        return getattr(service(ch), method)(request, metadata=metadata, timeout=10)


def refused(mc, method, request, metadata, code, ns="ns-a", service=pb_grpc.ClientProtocolStub) -> str:
    with pytest.raises(grpc.RpcError) as err:
        call(mc, method, request, metadata, ns, service)
    assert err.value.code() == code, err.value
    return err.value.details()


def secret_of(mc) -> bytes:
    return security.read_secret(mc.config.secret_path())


def as_user(mc, user: str, lifetime: float = 600) -> tuple:
    return ((security.TOKEN_KEY, security.user_token(secret_of(mc), user, lifetime)),)


@pytest.fixture
def victim_file(cluster):
    """/user/victim/diary: 0600, owned by victim, in a 0700 home."""
    owner = HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True)
    owner.mkdir("/user/victim", create_parents=True)
    owner.chown("/user/victim", "victim", "victim")
    owner.close()
    victim = HfedFileSystem(conf=str(cluster.config_path), user="victim", skip_instance_cache=True)
    victim.pipe_file("/user/victim/diary", SECRET_BYTES)
    victim.chmod("/user/victim/diary", 0o600)
    victim.chmod("/user/victim", 0o700)
    yield victim, "/user/victim/diary"
    victim.close()
    owner = HfedFileSystem(conf=str(cluster.config_path), skip_instance_cache=True)
    owner.rm("/user/victim", recursive=True)
    owner.close()


def test_a_stranger_claiming_to_be_root_reads_and_changes_nothing(cluster, victim_file, tmp_path, hfed_env):
    victim, diary = victim_file
    conf = stranger_config(cluster, tmp_path)
    claims = dict(HFED_USER="root", HFED_GROUPS="supergroup")
    for args in (["dfs", "-cat", diary], ["dfs", "-chown", "mallory", diary], ["dfs", "-chmod", "644", diary],
                 ["dfs", "-rm", diary], ["dfsadmin", "-saveNamespace"], ["dfsadmin", "-fetchToken", "mallory",
                                                                         str(tmp_path / "t.json")]):
        code, out, err = hfed(hfed_env, conf, *args, **claims)
        assert code == 1 and SECRET_BYTES.decode() not in out, (args, out, err)
        assert "requires a token" in err, (args, err)
    # The same claims as raw gRPC metadata, no token: refused before anything is looked at.
    for method, request in (("GetBlockLocations", pb.GetBlockLocationsRequest(path=diary)),
                            ("SetOwner", pb.SetOwnerRequest(path=diary, owner="mallory")),
                            ("SaveNamespace", pb.SaveNamespaceRequest())):
        refused(cluster, method, request, rpc.identity_metadata("root", ["supergroup"]),
                grpc.StatusCode.UNAUTHENTICATED)
    assert victim.cat(diary) == SECRET_BYTES
    assert victim.info(diary)["owner"] == "victim" and victim.info(diary)["permission"] == 0o600


def test_claims_beside_a_token_are_ignored(cluster, victim_file):
    """Mallory has a real token; saying she is root in the metadata changes nothing."""
    _victim, diary = victim_file
    metadata = as_user(cluster, "mallory") + rpc.identity_metadata("root", ["supergroup"])
    stats = call(cluster, "GetStats", pb.GetStatsRequest(), metadata)
    assert (stats.caller, stats.caller_superuser) == ("mallory", False)
    assert "supergroup" not in stats.caller_groups     # groups are resolved by the NameNode, not claimed
    refused(cluster, "GetBlockLocations", pb.GetBlockLocationsRequest(path=diary), metadata,
            grpc.StatusCode.PERMISSION_DENIED)
    refused(cluster, "SetOwner", pb.SetOwnerRequest(path=diary, owner="mallory"), metadata,
            grpc.StatusCode.PERMISSION_DENIED)
    refused(cluster, "SaveNamespace", pb.SaveNamespaceRequest(), metadata, grpc.StatusCode.PERMISSION_DENIED)
    refused(cluster, "IssueUserToken", pb.IssueUserTokenRequest(user="root"), metadata,
            grpc.StatusCode.PERMISSION_DENIED)


def _retarget(token: str, **changes) -> str:
    """``token`` with its identifier edited and the old signature kept (a tampering attempt)."""
    prefix, payload, mac = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    fields.update(changes)
    raw = base64.urlsafe_b64encode(json.dumps(fields, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{prefix}.{raw}.{mac}"


def test_forged_tampered_and_expired_tokens_are_refused(cluster):
    secret = secret_of(cluster)
    mallory = security.user_token(secret, "mallory", 600)
    forgeries = {
        "bad signature": security.user_token(os.urandom(32).hex().encode(), "root", 600),   # another secret
        "bad signature ": _retarget(mallory, u="root"),                  # the name changed, signature kept
        "expired": security.user_token(secret, "root", -1),
        "malformed": "hfed1.not-base64!.x",
        "unknown format": "hfed9." + mallory.split(".", 1)[1],
        "not accepted here": security.datanode_token(secret, "DN-x"),  # a DataNode's token is not a user's
    }
    for why, token in forgeries.items():
        details = refused(cluster, "GetStats", pb.GetStatsRequest(), ((security.TOKEN_KEY, token),),
                          grpc.StatusCode.UNAUTHENTICATED)
        assert why.strip() in details, (why, details)
    details = refused(cluster, "GetStats", pb.GetStatsRequest(), ((security.TOKEN_KEY, "x" * 10_000),),
                      grpc.StatusCode.UNAUTHENTICATED)
    assert "10000 bytes long" in details   # (gRPC itself refuses metadata past 16 KiB)


def test_only_datanodes_holding_the_secret_speak_for_themselves(cluster, fs):
    fs.pipe_file("/data/attack/keep.bin", b"k" * 4096)
    real = call(cluster, "GetStats", pb.GetStatsRequest(), as_user(cluster, "root")).datanodes[0].id
    fake = pb.DatanodeId(uuid="DN-fake", host_label="host-9", transfer_address="127.0.0.1:1")
    dn = pb_grpc.DatanodeProtocolStub
    mallory = as_user(cluster, "mallory")
    cid = cluster.config.cluster_id
    for metadata in ((), mallory, rpc.identity_metadata("root", ["supergroup"])):
        refused(cluster, "Register", pb.RegisterRequest(id=fake, cluster_id=cid), metadata,
                grpc.StatusCode.UNAUTHENTICATED, service=dn)
        refused(cluster, "BlockReport", pb.BlockReportRequest(uuid=real.uuid), metadata,
                grpc.StatusCode.UNAUTHENTICATED, service=dn)
    # A real DataNode's token speaks for that DataNode only.
    other = ((security.TOKEN_KEY, security.datanode_token(secret_of(cluster), "DN-other")),)
    details = refused(cluster, "BlockReport", pb.BlockReportRequest(uuid=real.uuid), other,
                      grpc.StatusCode.UNAUTHENTICATED, service=dn)
    assert "may not speak for" in details
    located = fs.block_locations("/data/attack/keep.bin").blocks[0]
    claim = pb.ReportBadBlocksRequest(replicas=[pb.BadReplica(block=located.block, datanode_uuid=real.uuid)])
    refused(cluster, "ReportBadBlocks", claim, other, grpc.StatusCode.INVALID_ARGUMENT, service=dn)  # not registered
    # A real DataNode's word about another's replica is a claim: that replica is verified, not condemned.
    neighbour = next(d.uuid for d in located.locations if d.uuid != real.uuid)
    call(cluster, "ReportBadBlocks", claim, ((security.TOKEN_KEY, security.datanode_token(secret_of(cluster),
                                                                                          neighbour)),), service=dn)
    time.sleep(1.0)    # a few heartbeats: the verification runs and finds the replica sound
    stats = call(cluster, "GetStats", pb.GetStatsRequest(), as_user(cluster, "root"))
    assert "host-9" not in {d.id.host_label for d in stats.datanodes}
    assert stats.missing == 0 and stats.corrupt_replicas == 0
    assert fs.cat("/data/attack/keep.bin") == b"k" * 4096
    fs.rm("/data/attack", recursive=True)


def test_delegation_tokens_renew_expire_cancel_and_stay_in_their_namespace(fresh_cluster):
    mc = fresh_cluster(namespaces=2, datanodes=1, replication=1, settings={"security": hconfig.SecurityConfig(
        delegation_renew_interval=3.0, delegation_max_lifetime=6.0)})
    alice, bob = as_user(mc, "alice"), as_user(mc, "bob")
    asked = time.time()
    got = call(mc, "GetDelegationToken", pb.GetDelegationTokenRequest(renewer="alice"), alice)
    issued_by = time.time()          # the NameNode stamped it between the two
    dt = ((security.TOKEN_KEY, got.token),)
    assert call(mc, "GetStats", pb.GetStatsRequest(), dt).caller == "alice"
    assert "namespace ns-a" in refused(mc, "GetStats", pb.GetStatsRequest(), dt, grpc.StatusCode.UNAUTHENTICATED,
                                       ns="ns-b")
    # A delegation token gets no further tokens, and only its renewer renews it.
    refused(mc, "GetDelegationToken", pb.GetDelegationTokenRequest(), dt, grpc.StatusCode.PERMISSION_DENIED)
    refused(mc, "IssueUserToken", pb.IssueUserTokenRequest(user="alice"), dt, grpc.StatusCode.PERMISSION_DENIED)
    refused(mc, "RenewDelegationToken", pb.RenewDelegationTokenRequest(token=got.token), bob,
            grpc.StatusCode.PERMISSION_DENIED)
    # Renewed in time it lives on, never past its max date; unrenewed it dies.
    # Bounds from when it was issued, with room for a loaded machine's slow calls.
    died = None
    while died is None and time.time() - asked < 15.0:
        try:
            call(mc, "RenewDelegationToken", pb.RenewDelegationTokenRequest(token=got.token), alice)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAUTHENTICATED and "expired" in e.details()
            died = time.time()
            break
        assert call(mc, "GetStats", pb.GetStatsRequest(), dt).caller == "alice"
        time.sleep(0.3)
    assert died is not None, "renewed past its max lifetime"
    assert died - asked >= 5.9 and died - issued_by <= 6.0 + 4.0   # alive until its max date (6 s), not after
    refused(mc, "GetStats", pb.GetStatsRequest(), dt, grpc.StatusCode.UNAUTHENTICATED)


def test_delegation_tokens_survive_a_namenode_restart_and_cancelled_ones_die(fresh_cluster):
    # The default renew interval (a day): the restart may take its time on a loaded machine.
    mc = fresh_cluster(namespaces=1, datanodes=1, replication=1)
    alice, bob = as_user(mc, "alice"), as_user(mc, "bob")
    kept = call(mc, "GetDelegationToken", pb.GetDelegationTokenRequest(renewer="alice"), alice).token
    gone = call(mc, "GetDelegationToken", pb.GetDelegationTokenRequest(renewer="alice"), alice).token
    refused(mc, "CancelDelegationToken", pb.CancelDelegationTokenRequest(token=gone), bob,
            grpc.StatusCode.PERMISSION_DENIED)
    call(mc, "CancelDelegationToken", pb.CancelDelegationTokenRequest(token=gone), alice)
    mc.kill_namenode("ns-a")
    mc.start_namenode("ns-a")
    mc.config = hconfig.load(mc.config_path)
    wait_for(lambda: _answers(mc, ((security.TOKEN_KEY, kept),)), 15, "ns-a back")
    assert call(mc, "GetStats", pb.GetStatsRequest(), ((security.TOKEN_KEY, kept),)).caller == "alice"
    assert "cancelled" in refused(mc, "GetStats", pb.GetStatsRequest(), ((security.TOKEN_KEY, gone),),
                                  grpc.StatusCode.UNAUTHENTICATED)


def _answers(mc, metadata) -> bool:
    try:
        call(mc, "GetStats", pb.GetStatsRequest(), metadata)
        return True
    except grpc.RpcError as e:
        return e.code() != grpc.StatusCode.UNAVAILABLE


def test_the_secret_is_the_owners_alone(cluster):
    secret = cluster.config.secret_path()
    assert secret.stat().st_mode & 0o777 == 0o600
    assert secret.parent.stat().st_mode & 0o777 == 0o700
