"""The NameNode status page of a running cluster: the overview's counts, the DataNodes
table, the file browser (listing, a file's blocks and replica hosts, the download
link); then the same pages in headless Chromium, checked by the text a person sees."""
from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
import requests

from client.fs import HfedFileSystem

NS = "ns-a"


class VisibleText(HTMLParser):
    """The text a browser shows: everything outside <head>, <style> and <script>."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.links: dict[str, str] = {}      # link text -> href
        self._hidden = 0
        self._href: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("head", "style", "script", "title"):
            self._hidden += 1
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_endtag(self, tag):
        if tag in ("head", "style", "script", "title"):
            self._hidden -= 1
        if tag == "a":
            self._href = None

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.parts.append(data.strip())
            if self._href is not None:
                self.links[data.strip()] = self._href

    @property
    def text(self) -> str:
        return " ".join(self.parts)


def visible(html: str) -> VisibleText:
    parser = VisibleText()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A one-namespace, two-DataNode cluster with a few files; (cluster, NameNode HTTP address)."""
    from conftest import start_cluster
    mc = start_cluster(tmp_path_factory.mktemp("status"), namespaces=1, datanodes=2, replication=2)
    try:
        fs = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
        fs.mkdir("/user/alice/reports")
        fs.pipe_file("/user/alice/reports/q1.csv", b"x" * 1536)
        fs.pipe_file("/user/alice/reports/<b>tag.txt", b"angle brackets stay text")
        fs.pipe_file("/user/alice/big.bin", b"y" * (3 << 20))      # 3 blocks of 1 MiB
        assert mc.wait_for_block_reports()
        yield mc, mc.stats(NS).http_address
    finally:
        mc.down()


def get(address: str, route: str, **params) -> requests.Response:
    return requests.get(f"http://{address}{route}", params=params, timeout=10)


def test_overview_shows_the_namespace_counts_and_datanodes(site):
    mc, address = site
    stats = mc.stats(NS)
    reply = get(address, "/")
    assert reply.status_code == 200 and '<meta http-equiv="refresh"' in reply.text
    page = visible(reply.text).text
    objects = stats.files + stats.directories
    assert f"{objects:,} files and directories, {stats.blocks:,} blocks = " \
           f"{objects + stats.blocks:,} total filesystem objects" in page
    assert stats.blocks >= 5          # 3 of big.bin, one of each small file
    assert "2 live, 0 dead" in page
    assert f"Cluster ID {stats.cluster_id}" in page
    assert "safe mode is OFF" in page
    for label in mc.host_labels:
        assert re.search(rf"{label} 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+ live", page), page


def test_explorer_lists_a_directory_and_shows_a_file(site):
    mc, address = site
    reply = get(address, "/explorer", path="/user/alice/reports")
    assert reply.status_code == 200 and "refresh" not in reply.text
    listing = visible(reply.text)
    assert re.search(r"-rw-r--r-- \S+ \S+ 1.5 KiB .* 2 1.0 MiB q1\.csv", listing.text), listing.text
    assert "<b>tag.txt" in listing.text                 # a name is text, never markup
    assert "<b>tag.txt" not in reply.text
    assert listing.links["q1.csv"] == "/explorer?path=%2Fuser%2Falice%2Freports%2Fq1.csv"

    file_page = visible(get(address, "/explorer", path="/user/alice/big.bin").text)
    assert "3.0 MiB (3,145,728 bytes)" in file_page.text
    rows = re.findall(r"(\d+) (\d+) ([\d,]+) ([\d,]+) (host-\d), (host-\d)", file_page.text)
    assert [r[2] for r in rows] == ["0", "1,048,576", "2,097,152"], file_page.text
    assert all({r[4], r[5]} == {"host-1", "host-2"} for r in rows)
    href = file_page.links["Download"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/webhdfs/v1/user/alice/big\.bin\?op=OPEN&namenoderpcaddress=ns-a",
                        href), href
    dn_http = {n.id.http_address for n in mc.stats(NS).datanodes}
    assert href.split("/")[2] in dn_http


def test_explorer_errors_name_the_path(site):
    _, address = site
    missing = get(address, "/explorer", path="/user/nobody")
    assert missing.status_code == 404 and "/user/nobody" in visible(missing.text).text
    bad = get(address, "/explorer", path="relative/path")
    assert bad.status_code == 400 and "relative/path" in visible(bad.text).text


def chromium(*args: str) -> str:
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    done = subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_browser_shows_the_overview_and_the_file_browser(site):
    mc, address = site
    stats = mc.stats(NS)
    overview = visible(chromium("--dump-dom", f"http://{address}/")).text
    assert f"NameNode {NS}" in overview
    assert "2 live, 0 dead" in overview
    assert f"{stats.blocks:,} blocks" in overview
    assert "host-1" in overview and "host-2" in overview

    browser = visible(chromium("--dump-dom", f"http://{address}/explorer?path=/user/alice")).text
    assert re.search(r"3\.0 MiB .* big\.bin", browser), browser
    assert "reports/" in browser
