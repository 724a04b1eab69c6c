"""The batched calls of HfedFileSystem: many paths, one NameNode call per namespace
(per MAX_BATCH paths), each path's outcome returned in order rather than raised."""
from __future__ import annotations

from client.file_info import status_to_info
from protos import errors, paths
from protos import hfed_pb2 as pb


class BatchCalls:
    """Mixed into HfedFileSystem (uses its _path, session, mounts and _info_without_status)."""

    def _batched(self, raw_paths, entry_for) -> list[tuple[str | None, str | None, object]]:
        """One Batch entry per path (``entry_for(path)``, the path checked), grouped by
        namespace and chunked by MAX_BATCH. Returns (path, nameservice, result)
        in the order given; result is the reply or the exception the single call
        would have raised (a bad path, a down namespace) -- returned, not raised."""
        out: list = [None] * len(raw_paths)
        by_ns: dict[str, list[tuple[int, pb.BatchEntry]]] = {}
        for i, raw in enumerate(raw_paths):
            path = ns = None
            try:
                path = self._path(raw)
                ns = self.session.resolve(path).nameservice
                by_ns.setdefault(ns, []).append((i, entry_for(path)))
                out[i] = (path, ns, None)
            except errors.HfedError as e:
                out[i] = (path, ns, e)
        for ns, todo in by_ns.items():
            for start in range(0, len(todo), pb.MAX_BATCH):
                chunk = todo[start:start + pb.MAX_BATCH]
                try:
                    replies = self.session.namenode(ns).batch([entry for _, entry in chunk])
                except errors.HfedError as e:   # e.g. the namespace is down: its paths fail, the others go on
                    replies = [e] * len(chunk)
                for (i, _), reply in zip(chunk, replies):
                    out[i] = (out[i][0], ns, reply)
        return out

    def info_many(self, path_list) -> list[dict | Exception]:
        """info() of many paths in one call per namespace (per MAX_BATCH paths), in order."""
        def entry(path):
            return pb.BatchEntry(get_file_info=pb.GetFileInfoRequest(path=path))
        return [status_to_info(result.status, path, ns) if not isinstance(result, Exception)
                else self._info_without_status(path, result) if path else result
                for path, ns, result in self._batched(list(path_list), entry)]

    def locations_many(self, path_list) -> list[pb.LocatedBlocks | Exception]:
        """block_locations() of many files in one call per namespace (per MAX_BATCH paths), in order."""
        def entry(path):
            return pb.BatchEntry(get_block_locations=pb.GetBlockLocationsRequest(
                path=path, offset=0, length=1 << 62, client_host=self.session.host or ""))
        return [result if isinstance(result, Exception) else result.blocks
                for _, _, result in self._batched(list(path_list), entry)]

    def mkdirs_many(self, path_list, permission=0o755, create_parents=True) -> list[None | Exception]:
        """mkdir() of many paths in few calls: None where it worked, else the exception, in order."""
        def entry(path):
            parents = create_parents or self.mounts.is_mount_point(path) or self.mounts.is_protected(
                paths.parent_of(path))   # as mkdir(): a mount point's directory may not exist yet
            return pb.BatchEntry(mkdirs=pb.MkdirsRequest(path=path, permission=permission, create_parent=parents))
        return [result if isinstance(result, Exception) else None
                for _, _, result in self._batched(list(path_list), entry)]

    def touch_many(self, path_list, overwrite=True, permission=0o644, replication=0) -> list[None | Exception]:
        """Create many empty files (Create, then Complete, batched): None where
        it worked, else the exception the single call would raise, in order."""
        def create(path):
            if self.mounts.is_protected(path):
                raise errors.IsADirectory(f"cannot create {path}: it is a mount point or holds one", path)
            return pb.BatchEntry(create=pb.CreateRequest(
                path=path, permission=permission, overwrite=overwrite, create_parent=True,
                replication=replication or 0, client_name=self.session.client_name))

        def complete(path):
            return pb.BatchEntry(complete=pb.CompleteRequest(path=path, client_name=self.session.client_name))
        raw = list(path_list)
        results = [r if isinstance(r, Exception) else None for _, _, r in self._batched(raw, create)]
        created = [i for i, r in enumerate(results) if r is None]
        for i, (_, _, done) in zip(created, self._batched([raw[i] for i in created], complete)):
            if isinstance(done, Exception):
                results[i] = done
            elif not done.completed:   # an empty file has no block to wait for
                results[i] = errors.HfedError(f"{raw[i]}: the NameNode did not close the new file")
        return results
