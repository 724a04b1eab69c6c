"""hfed DataNode: stores the blocks of every namespace's block pool.

storage.py   replicas on disk (no network)
recovery.py  the verified prefix of a replica a crash left half written
transfer.py  the DataTransfer server (framed TCP, protos/datatransfer.py): reads,
             short-circuit grants, copying replicas to other DataNodes
pipeline.py  one write stream: receive, forward downstream, verify, store, ack
reading.py   replicas (finalized or being written) as packets
heartbeat.py one actor per nameservice: register, reports, heartbeats, commands
scanner.py   background re-verification of finalized replicas, rate-limited
server.py    `python -m datanode.server --conf CONF --host-label LABEL`
"""
