"""`hfed dfs -checksum PATH...`: each file's COMPOSITE-CRC32C, printed as `hadoop fs
-checksum` prints it (``PATH<TAB>ALGORITHM<TAB>HEX``, the path as given). The value
comes from the DataNodes' stored CRCs (client/checksums.py): no file data is read,
and two files with the same bytes print the same hex whatever their block sizes.
"""
from __future__ import annotations

from client.checksums import path_checksum
from client.cli_dfs import absolute, for_each


def cmd_checksum(ctx, a) -> int:
    def one(path):
        found = path_checksum(ctx.session, absolute(path))
        print(f"{path}\t{found.algorithm}\t{found.hex}")
    return for_each("checksum", a.paths, one)
