"""Emulated hosts (`hfed cluster up --emulate-hosts N`): each DataNode in its own network
namespace on its own 198.18.x.y address behind a rate-limited link, and nothing of it left
behind by `cluster down`, by a killed launcher or by a stray namespace of the cluster."""
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from client import emulated_hosts
from client.minicluster import MiniCluster
from tests.integration.conftest import FAST_TIMING, NO_PACKING

REPO = Path(__file__).resolve().parents[2]
PROBLEM = emulated_hosts.support_problem()
needs_netns = pytest.mark.skipif(PROBLEM is not None, reason=f"no emulated hosts here: {PROBLEM}")


def leftovers(tag: str) -> list[str]:
    """Namespaces and links carrying the cluster's tag that exist now."""
    return ([ns for ns in emulated_hosts.list_netns() if ns.startswith(f"hfed-{tag}-")]
            + [link for link in emulated_hosts.list_links() if link.startswith(f"hf{tag}-")])


def netns_of_pid(pid: int) -> str:
    return subprocess.run(["ip", "netns", "identify", str(pid)], capture_output=True, text=True,
                          check=True).stdout.strip()


def cli(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "client.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env=env, **kw)


@pytest.fixture(scope="module")
def emulated(tmp_path_factory):
    if PROBLEM:
        pytest.skip(f"no emulated hosts here: {PROBLEM}")
    mc = MiniCluster(tmp_path_factory.mktemp("emulated") / "cluster", namespaces=1, emulate_hosts=3,
                     link="1gbit", block_size=1 << 20, settings=dict(NO_PACKING), **FAST_TIMING).up()
    try:
        yield mc
    finally:
        mc.down()


@needs_netns
def test_every_datanode_serves_from_its_own_address_in_its_own_namespace(emulated):
    em = emulated.emulation
    subnet = ipaddress.ip_network(em.subnet)
    assert subnet.subnet_of(ipaddress.ip_network("198.18.0.0/15"))
    ns = emulated.nameservices[0]
    assert emulated.namenode_address(ns).startswith(f"{em.bridge_ip}:")
    rows = {row["name"]: row for row in emulated.status() if row["role"] == "datanode"}
    assert sorted(rows) == ["host-1", "host-2", "host-3"]
    for host in em.hosts:
        assert rows[host.label]["address"].rsplit(":", 1)[0] == host.ip
        assert ipaddress.ip_address(host.ip) in subnet
        assert netns_of_pid(rows[host.label]["pid"]) == host.netns
    # The NameNode knows each DataNode by that address.
    registered = {d.id.host_label: d.id.transfer_address for d in emulated.stats(ns).datanodes}
    assert {label: addr.rsplit(":", 1)[0] for label, addr in registered.items()} == \
        {h.label: h.ip for h in em.hosts}


@needs_netns
def test_a_file_written_from_one_host_is_read_back_on_another(emulated, tmp_path):
    from client.fs import HfedFileSystem
    data = os.urandom(3 << 20)   # three blocks, each on all three hosts (replication 3)
    src = tmp_path / "src"
    src.write_bytes(data)
    conf = str(emulated.config_path)
    fs = HfedFileSystem(conf=conf, skip_instance_cache=True)
    fs.put_file(str(src), "/data/emulated.bin")
    # A reader inside host-2's namespace, on no DataNode's host label: every block over the links.
    reader = subprocess.run(
        ["ip", "netns", "exec", emulated.emulation.host("host-2").netns, sys.executable, "-m", "client.cli",
         "--conf", conf, "dfs", "-cat", "/data/emulated.bin"],
        cwd=REPO, capture_output=True, env=dict(os.environ, HFED_HOST="nowhere"), timeout=120)
    assert reader.returncode == 0, reader.stderr.decode()
    assert reader.stdout == data
    fs.rm("/data/emulated.bin")


@needs_netns
def test_each_link_is_rate_limited_both_ways(emulated):
    for host in emulated.emulation.hosts:
        into = subprocess.run(["tc", "class", "show", "dev", host.veth], capture_output=True, text=True).stdout
        out_of = subprocess.run(["tc", "-n", host.netns, "class", "show", "dev", "eth0"],
                                capture_output=True, text=True).stdout
        for shown in (into, out_of):
            assert "htb 1:1" in shown and "rate 1Gbit" in shown and "ceil 1Gbit" in shown, shown


SEE_NETNS = textwrap.dedent("""
    import json, os
    from pathlib import Path
    tf_config = json.loads(os.environ["TF_CONFIG"])
    index = tf_config["task"]["index"]
    Path(os.environ["HFED_JOB_DIR"], f"seen-{index}.json").write_text(json.dumps({
        "host": os.environ["HFED_HOST"], "pid": os.getpid(), "workers": tf_config["cluster"]["worker"]}))
""")


@needs_netns
def test_tf_run_puts_each_worker_in_its_hosts_namespace(emulated, tmp_path):
    from client.tf_launch import launch
    script = tmp_path / "see.py"
    job = tmp_path / "job"
    # The workers record their pid; each one's namespace is checked while it waits for a file we write.
    script.write_text(SEE_NETNS + textwrap.dedent("""
        import time
        while not Path(os.environ["HFED_JOB_DIR"], "go").exists():
            time.sleep(0.05)
    """))
    result = {}
    thread = threading.Thread(target=lambda: result.update(r=launch(
        [sys.executable, str(script)], 3, conf=str(emulated.config_path), job_dir=job, timeout=120)))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(list(job.glob("seen-*.json"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        views = [json.loads((job / f"seen-{i}.json").read_text()) for i in range(3)]
        namespaces = [netns_of_pid(v["pid"]) for v in views]
    finally:
        job.mkdir(parents=True, exist_ok=True)
        (job / "go").write_text("")
        thread.join(timeout=60)
    assert result["r"].exit_code == 0
    em = emulated.emulation
    for i, view in enumerate(views):
        host = em.host(view["host"])
        assert namespaces[i] == host.netns
        assert view["workers"][i].rsplit(":", 1)[0] == host.ip


@needs_netns
def test_down_and_a_killed_launcher_leave_no_namespace_or_link(tmp_path):
    directory = tmp_path / "cluster"
    env = dict(os.environ, HFED_HOME=str(tmp_path / "home"))
    up = subprocess.Popen([sys.executable, "-m", "client.cli", "cluster", "up", "--dir", str(directory),
                           "--namespaces", "1", "--emulate-hosts", "2"], cwd=REPO, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spec = directory / emulated_hosts.SPEC_NAME
    try:
        deadline = time.monotonic() + 60
        # Killed once the hosts exist, while it still waits for its daemons (or just after).
        while time.monotonic() < deadline and not (spec.exists() and leftovers(emulated_hosts.load(directory).tag)):
            time.sleep(0.02)
        up.send_signal(signal.SIGKILL)
        up.wait()
        tag = emulated_hosts.load(directory).tag
        assert leftovers(tag)
        down = cli("cluster", "down", "--dir", str(directory), env=env, timeout=60)
        assert down.returncode == 0, down.stderr
        assert leftovers(tag) == []
        # A namespace carrying the cluster's tag that the spec does not name goes too, on the next up.
        subprocess.run(["ip", "netns", "add", f"hfed-{tag}-stray"], check=True)
        again = cli("cluster", "up", "--dir", str(directory), env=env, timeout=120)
        assert again.returncode == 0, again.stderr
        assert f"hfed-{tag}-stray" not in emulated_hosts.list_netns()
        assert sorted(leftovers(tag)) == sorted([*(h.netns for h in emulated_hosts.load(directory).hosts),
                                                 *(h.veth for h in emulated_hosts.load(directory).hosts),
                                                 f"hf{tag}-br"])
    finally:
        if up.poll() is None:
            up.kill()
        cli("cluster", "down", "--dir", str(directory), env=env, timeout=60)
    assert leftovers(tag) == []
    assert not any(ns.startswith(f"hfed-{tag}-") for ns in emulated_hosts.list_netns())


def test_a_bad_link_rate_is_refused_before_anything_is_made(tmp_path):
    if PROBLEM:
        pytest.skip(f"no emulated hosts here: {PROBLEM}")
    with pytest.raises(ValueError, match="--link 'fast'"):
        MiniCluster(tmp_path / "c", emulate_hosts=2, link="fast")
    assert not (tmp_path / "c").exists()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not Path("/usr/bin/python3").exists(),
                    reason="needs root (to switch to nobody), setpriv and /usr/bin/python3")
def test_without_root_emulated_hosts_are_refused_with_the_reason():
    # The check as an unprivileged user sees it (the project's venv may not be readable by nobody).
    probe = subprocess.run(
        ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", "/usr/bin/python3", "-c",
         f"import sys; sys.path.insert(0, {str(REPO)!r}); from client.emulated_hosts import support_problem; "
         "print(support_problem())"], cwd="/", capture_output=True, text=True, timeout=30)
    assert probe.returncode == 0, probe.stderr
    assert "need root" in probe.stdout and "without --emulate-hosts" in probe.stdout


def test_a_cluster_made_without_emulated_hosts_is_not_switched_to_them(tmp_path):
    if PROBLEM:
        pytest.skip(f"no emulated hosts here: {PROBLEM}")
    plain = MiniCluster(tmp_path / "c", namespaces=1, datanodes=1, replication=1, webhdfs=False).up()
    plain.down()
    with pytest.raises(ValueError, match="made without emulated hosts"):
        MiniCluster(tmp_path / "c", emulate_hosts=2)
    assert not (tmp_path / "c" / emulated_hosts.SPEC_NAME).exists()
