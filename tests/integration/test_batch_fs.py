"""Batch helpers of HfedFileSystem across two namespaces (/user in ns-a, /data in ns-b):
one result per path, in order, failures returned as the exceptions single calls raise."""
import pytest

from protos import hfed_pb2 as pb


@pytest.fixture
def base(fs):
    fs.makedirs("/user/batchfs", exist_ok=True)
    fs.makedirs("/data/batchfs", exist_ok=True)
    yield
    fs.rm("/user/batchfs", recursive=True)
    fs.rm("/data/batchfs", recursive=True)


def test_mkdirs_and_info_many_across_namespaces(fs, base):
    wanted = ["/user/batchfs/a", "/data/batchfs/b", "/user/batchfs/c/d", "/data/batchfs/e"]
    assert fs.mkdirs_many(wanted) == [None] * 4
    infos = fs.info_many(["/data/batchfs/b", "user/relative", "/user/batchfs/a", "/user/batchfs/missing",
                          "/data", "/", "/data/batchfs/e", "hfed:///user/batchfs/c/d"])
    assert [i["name"] if isinstance(i, dict) else type(i).__name__ for i in infos] == [
        "/data/batchfs/b", "InvalidPath", "/user/batchfs/a", "NotFound", "/data", "/", "/data/batchfs/e",
        "/user/batchfs/c/d"]
    assert [i["nameservice"] for i in infos if isinstance(i, dict)] == ["ns-b", "ns-a", "ns-b", "", "ns-b", "ns-a"]
    assert all(i["type"] == "directory" for i in infos if isinstance(i, dict))
    assert isinstance(infos[1], ValueError) and "user/relative" in str(infos[1])
    missing = infos[3]
    assert isinstance(missing, FileNotFoundError) and "/user/batchfs/missing" in str(missing)
    with pytest.raises(FileNotFoundError) as single:      # the same error the single call raises
        fs.info("/user/batchfs/missing")
    assert str(missing) == str(single.value)
    # one exists already without create_parents: FileExistsError for that entry only
    again = fs.mkdirs_many(["/user/batchfs/a", "/data/batchfs/new"], create_parents=False)
    assert isinstance(again[0], FileExistsError) and again[1] is None
    assert fs.isdir("/data/batchfs/new")


def test_touch_many_creates_closed_empty_files_in_order(fs, base):
    names = [f"/user/batchfs/t/f{i:04d}" if i % 2 else f"/data/batchfs/t/f{i:04d}"
             for i in range(pb.MAX_BATCH + 50)]           # interleaved: order must survive the split
    names += [f"/data/batchfs/many/f{i:04d}" for i in range(pb.MAX_BATCH + 10)]   # ns-b needs two batches
    names += ["/data", "/user/batchfs/t/f0001"]
    results = fs.touch_many(names, overwrite=False)
    assert results[:-2] == [None] * (len(names) - 2)
    assert isinstance(results[-2], IsADirectoryError) and "/data" in str(results[-2])   # a mount point
    assert isinstance(results[-1], FileExistsError) and "/user/batchfs/t/f0001" in str(results[-1])
    infos = fs.info_many(names[:-2])
    assert [i["name"] for i in infos] == names[:-2]
    assert all(i["type"] == "file" and i["size"] == 0 and not i["under_construction"] for i in infos)
    assert len(fs.ls("/data/batchfs/many", detail=False)) == pb.MAX_BATCH + 10
    assert fs.cat_file("/user/batchfs/t/f0001") == b""
