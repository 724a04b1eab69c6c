"""Fuzz targets, one per service, run against real daemons.

client_protocol    NameNode ClientProtocol (gRPC), as an ordinary user
datanode_protocol  NameNode DatanodeProtocol (gRPC), as fake and real DataNodes
datatransfer       DataNode DataTransfer (framed TCP)

Each has ``attach(FuzzCluster)`` and ``fuzz_one(data: bytes)``; harness.py holds
the cluster, the oracle and the loop; test_fuzz_services.py runs each for a few
seconds in the test suite; bench/fuzz.py runs them for minutes and reports.
"""
