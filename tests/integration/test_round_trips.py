"""NameNode round trips per operation: open("rb") is one call, mkdir/makedirs ask no
exists() first, and a path is validated once per operation."""
import pytest

from protos import paths

ROOT = "/user/round-trips"


@pytest.fixture
def area(fs):
    fs.makedirs(ROOT, exist_ok=True)
    yield ROOT
    fs.rm(ROOT, recursive=True)


@pytest.fixture
def calls(fs, monkeypatch):
    """The NameNode methods ns-a is asked for, in order."""
    nn = fs.session.namenode("ns-a")
    made = []
    original = nn.call

    def counted(method, request, *args, **kwargs):
        made.append(method)
        return original(method, request, *args, **kwargs)
    monkeypatch.setattr(nn, "call", counted)
    return made


def test_open_for_reading_is_one_namenode_call(fs, area, calls):
    data = b"0123456789" * 5000
    fs.pipe_file(f"{area}/f", data)
    calls.clear()
    with fs.open(f"{area}/f", "rb") as f:
        assert f.size == len(data) and f.read() == data
    assert calls == ["GetBlockLocations"]


def test_open_a_directory_for_reading_is_refused_by_that_one_call(fs, area, calls):
    with pytest.raises(IsADirectoryError, match=area):
        fs.open(area, "rb")
    assert calls == ["GetBlockLocations"]


def test_mkdir_and_makedirs_let_the_namenode_answer(fs, area, calls):
    fs.pipe_file(f"{area}/file", b"x")
    calls.clear()
    fs.makedirs(f"{area}/a/b/c")                      # parents missing: a second call makes the chain
    fs.makedirs(f"{area}/a/b/c", exist_ok=True)       # an existing directory is fine
    with pytest.raises(FileExistsError, match=f"{area}/a/b/c"):
        fs.makedirs(f"{area}/a/b/c")
    with pytest.raises(FileExistsError, match=f"{area}/file"):
        fs.makedirs(f"{area}/file", exist_ok=True)    # but an existing file is not
    with pytest.raises(FileExistsError, match=f"{area}/a"):
        fs.mkdir(f"{area}/a", create_parents=False)
    with pytest.raises(FileNotFoundError, match=f"{area}/none/d"):
        fs.mkdir(f"{area}/none/d", create_parents=False)
    fs.mkdir(f"{area}/a", create_parents=True)         # as before: mkdir -p of an existing directory
    assert "GetFileInfo" not in calls and set(calls) == {"Mkdirs"}
    assert calls.count("Mkdirs") == 8
    assert fs.isdir(f"{area}/a/b/c") and not fs.exists(f"{area}/none")


def test_a_path_is_validated_once_per_operation(fs, area, monkeypatch):
    fs.pipe_file(f"{area}/g", b"payload")
    checked = []
    validate = paths.validate

    def counting(path):
        checked.append(path)
        return validate(path)
    monkeypatch.setattr(paths, "validate", counting)
    with fs.open(f"hfed://{area}/g", "rb") as f:
        assert f.read() == b"payload"
    assert fs.info(f"{area}/g")["size"] == 7
    fs.makedirs(f"{area}/once", exist_ok=True)
    assert checked == [f"{area}/g", f"{area}/g", f"{area}/once"]
