"""One namespace server (layout: namenode/README.md)."""
import os
import sys

# A NameNode forks its image writer (namenode/image.py, README "Checkpoints").
# grpcio's own fork handlers are on unless GRPC_ENABLE_FORK_SUPPORT says
# otherwise when grpc is imported; they do not support grpc.aio, and in the
# forked writer they crashed it (SIGSEGV inside fork). So turn them off before
# grpc is imported (``python -m namenode.server`` imports this package first);
# an explicit setting wins. GRPC_FORK_HANDLERS: whether they may be on, in which
# case checkpoints copy the namespace instead of forking.
_explicit = "GRPC_ENABLE_FORK_SUPPORT" in os.environ
_setting = os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false").strip().lower()
GRPC_FORK_HANDLERS = _setting in ("1", "true", "yes") or ("grpc" in sys.modules and not _explicit)
