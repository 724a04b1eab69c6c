"""Every string and repeated field of a request has a limit, checked by one
walker (protos/limits.py) that names the field; refused requests are logged at
most once per method per interval."""
from __future__ import annotations

import logging

import pytest
from hypothesis import given, strategies as st

from protos import hfed_pb2 as pb, limits, log_limit, rpc_errors
from protos.errors import InvalidArgument


def refused(request, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        limits.check_request(request, "namespace ns-a")


def test_a_huge_client_name_is_refused_naming_the_field():
    refused(pb.CreateRequest(path="/user/a", client_name="x" * (60 << 20)),
            r"^namespace ns-a: CreateRequest.client_name: at most 256 bytes, the request has 62914560$")


@pytest.mark.parametrize("request_, message", [
    (pb.MkdirsRequest(path="/" + "a" * 5000), r"MkdirsRequest.path: at most 4096 bytes"),
    (pb.RenameRequest(src="/a", dst="/" + "b" * 4096), r"RenameRequest.dst: at most 4096 bytes"),
    (pb.GetListingRequest(path="/a", start_after="n" * 256), r"GetListingRequest.start_after: at most 255"),
    (pb.SetOwnerRequest(path="/a", owner="o" * 257), r"SetOwnerRequest.owner: at most 256 bytes"),
    (pb.RenewDelegationTokenRequest(token="t" * 4097), r"RenewDelegationTokenRequest.token: at most 4096"),
    (pb.AddBlockRequest(path="/a", excluded_uuids=["u"] * 10_001), r"AddBlockRequest.excluded_uuids: at most 10000 "
                                                                   r"entries, the request has 10001"),
    (pb.AddBlockRequest(path="/a", excluded_uuids=["u", "v" * 300]), r"AddBlockRequest.excluded_uuids\[1\]: at most 256"),
    (pb.CompleteRequest(path="/a", last=pb.Block(pool_id="p" * 300)), r"CompleteRequest.last.pool_id: at most 256"),
    (pb.BatchRequest(entries=[pb.BatchEntry(mkdirs=pb.MkdirsRequest(path="/a"))] * (pb.MAX_BATCH + 1)),
     rf"BatchRequest.entries: at most {pb.MAX_BATCH} entries"),
    (pb.BatchRequest(entries=[pb.BatchEntry(get_file_info=pb.GetFileInfoRequest(path="/a")),
                              pb.BatchEntry(create=pb.CreateRequest(path="/b", client_name="c" * 257))]),
     r"BatchRequest.entries\[1\].create.client_name: at most 256 bytes, the request has 257"),
    (pb.ReportBadBlocksRequest(replicas=[pb.BadReplica(datanode_uuid="u" * 300)]),
     r"ReportBadBlocksRequest.replicas\[0\].datanode_uuid"),
])
def test_limits_reach_nested_and_repeated_fields(request_, message):
    refused(request_, message)


def test_limits_count_bytes_not_characters():
    limits.check_request(pb.CreateRequest(path="/a", client_name="\U0001F600" * 64))     # 256 bytes
    refused(pb.CreateRequest(path="/a", client_name="\U0001F600" * 65), "at most 256 bytes, the request has 260")


def test_reports_from_datanodes_may_be_as_large_as_the_message():
    blocks = [pb.Block(block_id=i, pool_id="BP-ns-a") for i in range(50_000)]
    limits.check_request(pb.BlockReportRequest(uuid="dn", blocks=blocks))
    limits.check_request(pb.IncrementalBlockReportRequest(uuid="dn", received=blocks, deleted=blocks))
    limits.check_request(pb.ContainerPackedRequest(uuid="dn", offsets=range(50_000)))


def test_what_is_within_limits_passes_and_non_messages_are_ignored():
    limits.check_request(pb.GetStatsRequest())
    limits.check_request(pb.CreateRequest(path="/user/" + "a" * 255, client_name="c" * 256))
    limits.check_request(pb.BatchRequest(entries=[pb.BatchEntry(mkdirs=pb.MkdirsRequest(path="/a"))] * pb.MAX_BATCH))
    limits.check_request(object())


@given(st.text(max_size=400))
def test_a_string_is_refused_exactly_when_its_utf8_is_over_the_limit(text):
    request = pb.SetOwnerRequest(path="/a", group=text)
    if len(text.encode()) > limits.MAX_IDENT:
        with pytest.raises(InvalidArgument, match="SetOwnerRequest.group"):
            limits.check_request(request)
    else:
        limits.check_request(request)


def test_refusals_are_logged_once_per_interval_with_a_count(caplog):
    now = [100.0]
    limiter = log_limit.RateLimitedLog(logging.getLogger("test.limits"), every=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.limits"):
        assert limiter.warning("Create", "Create: refused one")
        for _ in range(500):
            now[0] += 0.01
            assert not limiter.warning("Create", "Create: refused again")
        assert limiter.warning("Mkdirs", "Mkdirs: refused")       # another method has its own allowance
        now[0] += 10.0
        assert limiter.warning("Create", "Create: refused " + "x" * 5000)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and lines[0] == "Create: refused one" and lines[1] == "Mkdirs: refused"
    assert lines[2].endswith("(and 500 more like it in the last 10 s, not logged)") and len(lines[2]) < 600
