"""A screenshot of a NameNode's status page for the README.

    python -m bench.status_screenshot [--out bench/results/status_page.png]

Starts a small cluster (one namespace, three DataNodes), writes a few files, and has
headless Chromium (Debian's ``chromium``) render the overview to a PNG.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from client.fs import HfedFileSystem
from client.minicluster import MiniCluster


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="status_screenshot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "status_page.png"))
    parser.add_argument("--page", default="/", help="which page to shoot, e.g. /explorer?path=/user")
    args = parser.parse_args(argv)
    browser = shutil.which("chromium")
    if browser is None:
        parser.error("needs Debian's chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="hfed-screenshot-") as tmp:
        with MiniCluster(tmp, namespaces=1, datanodes=3, replication=2, block_size=1 << 20,
                         settings={"small_file_threshold": 0}) as mc:
            fs = HfedFileSystem(conf=str(mc.config_path), skip_instance_cache=True)
            for i in range(8):
                fs.pipe_file(f"/user/alice/reports/q{i}.csv", b"x" * (1000 + 700 * i))
            fs.pipe_file("/user/alice/model.bin", b"w" * (5 << 20))
            mc.wait_for_block_reports()
            address = mc.stats(mc.nameservices[0]).http_address
            out = Path(args.out).resolve()
            out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            f"--screenshot={out}", "--window-size=1280,900", f"http://{address}{args.page}"],
                           check=True, capture_output=True, timeout=120)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
