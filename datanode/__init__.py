"""hfed DataNode: stores the blocks of every namespace's block pool.

storage.py   replicas on disk (no network)
recovery.py  the verified prefix of a replica a crash left half written
transfer.py  the DataTransfer service: reads, pipelined writes, short-circuit
peers.py     channels to other DataNodes and the outgoing WriteBlock stream
heartbeat.py one actor per nameservice: register, reports, heartbeats, commands
scanner.py   background re-verification of finalized replicas, rate-limited
server.py    `python -m datanode.server --conf CONF --host-label LABEL`
"""
