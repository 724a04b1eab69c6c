"""The NameNode's status page: plain HTML rendered on the server (no scripts).

``/``          overview (as HDFS's dfshealth page) and the DataNodes table; refreshes itself.
``/explorer``  a file browser: ``?path=/dir`` lists a directory (``&after=name`` pages on),
               ``?path=/file`` shows a file's blocks, their replica hosts and a download link.

Read-only. Like HDFS's web UI it shows metadata to whoever reaches the HTTP port
(loopback by default); the browser reads as the unprivileged web user ``dr.who`` (HDFS's
static web user), so permission checks apply as for any other user: a directory
closed to "other" is not listed. File contents are never served here: the download
link points at a DataNode holding a replica (its WebHDFS OPEN endpoint).
"""
from __future__ import annotations

import datetime
import html
import urllib.parse

from aiohttp import web

from namenode import stats
from namenode.datanodes import NORMAL
from namenode.metrics import wall_clock_ms
from namenode.namespace import mode_string
from namenode.namesystem import Namesystem
from namenode.ops import reads
from namenode.small_files import Layout
from protos import errors

WEB_USER = "dr.who"          # HDFS's hadoop.http.staticuser.user
REFRESH_SECONDS = 5
PAGE_ENTRIES = 500

STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#eef}td.n{text-align:right}nav a{margin-right:1em}.bad{color:#b00;font-weight:bold}
.dead{color:#888}h1{margin-bottom:0.2em}.sub{color:#666;margin-top:0}"""


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def size(n: int) -> str:
    """Bytes as a person reads them (1.5 MiB)."""
    value, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            break
        value /= 1024
    return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"


def when(ms: int) -> str:
    if not ms:
        return "never"
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def explorer_link(path: str, text: str | None = None) -> str:
    return f'<a href="/explorer?{urllib.parse.urlencode({"path": path})}">{esc(text if text is not None else path)}</a>'


def page(title: str, body: str, fsn: Namesystem, refresh: bool) -> web.Response:
    head = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
    text = (f'<!DOCTYPE html><html><head><meta charset="utf-8">{head}<title>{esc(title)}</title>'
            f"<style>{STYLE}</style></head><body>"
            f'<nav><a href="/">Overview</a><a href="/#datanodes">DataNodes</a>'
            f'{explorer_link("/", "Browse the file system")}<a href="/metrics">/metrics</a>'
            f'<a href="/jmx">/jmx</a></nav>'
            f"<h1>{esc(title)}</h1><p class=sub>namespace {esc(fsn.nameservice)} of cluster "
            f"{esc(fsn.cluster_id)}</p>{body}</body></html>")
    return web.Response(text=text, content_type="text/html")


def flagged(text: str, bad: bool) -> str:
    return f"<span class=bad>{text}</span>" if bad else text


def rows(pairs) -> str:
    return "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)


# ------------------------------------------------------------------ overview

def overview(fsn: Namesystem, security: str) -> str:
    f = stats.namesystem_figures(fsn)
    nodes = stats.datanode_rows(fsn)
    live = [n for n in nodes if n.alive]
    journal = fsn.journal
    objects = f["files"] + f["directories"] + f["blocks"]
    budget = []
    if f["max_memory"]:
        budget.append(f"memory budget {size(f['max_memory'])}")
    if f["max_objects"]:
        budget.append(f"{f['max_objects']:,} objects allowed")
    refusal = f'<br><span class=bad>{esc(f["budget_refusal"])}</span>' if f["budget_refusal"] else ""
    safe = fsn.safemode.status(fsn)["reason"]
    capacity = sum(n.capacity for n in live)
    used = sum(n.used for n in live)
    pairs = [
        ("Namespace", esc(fsn.nameservice)), ("Cluster ID", esc(fsn.cluster_id)),
        ("Block pool ID", esc(fsn.pool_id)), ("Started", esc(when(f["started_ms"]))),
        ("Security", esc(security)),
        ("Safe mode", flagged(esc(safe), fsn.safemode.on)),
        ("Objects", esc(f"{f['files'] + f['directories']:,} files and directories, {f['blocks']:,} blocks = "
                        f"{objects:,} total filesystem objects")),
        ("Memory", esc(f"RSS {size(f['rss_bytes'])} ({size(f['baseline_rss_bytes'])} with an empty namespace), "
                       f"{f['bytes_per_object']:,} B per object; "
                       + (", ".join(budget) if budget else "no budget (unlimited)")) + refusal),
        ("HDFS heap estimate", esc(f"{size(f['hdfs_heap_estimate'])} (150 B per object)")),
        ("Small files", esc(f"{f['small_staged']:,} staged ({size(f['small_staged_bytes'])}), "
                            f"{f['small_packed']:,} packed in {f['containers']:,} containers")),
        ("Capacity", esc(f"{size(capacity)} configured, {size(used)} DFS used, "
                         f"{size(sum(n.remaining for n in live))} remaining (live DataNodes)")),
        ("DataNodes", f'<a href="#datanodes">{len(live)} live, {len(nodes) - len(live)} dead</a>'),
        ("Under-replicated blocks", esc(f"{f['under_replicated']:,}")),
        ("Missing blocks", flagged(f"{f['missing']:,}", f["missing"] > 0)),
        ("Corrupt replicas", esc(f"{f['corrupt_replicas']:,}")),
        ("Pending replications", esc(f"{f['pending_replications']:,}")),
        ("Last checkpoint", esc(f"{when(wall_clock_ms(journal.last_checkpoint))}, image txid {journal.image_txid:,}"
                                if journal else "no meta_dir: nothing is saved")),
        ("Journal txid", esc(f"{journal.last_txid:,} ({journal.last_txid - journal.image_txid:,} since the "
                             f"checkpoint)" if journal else "none")),
    ]
    return f"<h2>Overview</h2><table>{rows(pairs)}</table>" + datanodes_table(nodes)


def _admin(node) -> str:
    """', Decommission in progress' or ', Decommissioned' (namenode/decommission.py); '' in service."""
    return "" if node.admin_state == NORMAL else f", {esc(node.admin_state)}"


def datanodes_table(nodes: list[stats.DatanodeRow]) -> str:
    head = ("<tr><th>Host</th><th>Data transfer</th><th>HTTP</th><th>State</th><th>Last heartbeat</th>"
            "<th>Capacity</th><th>Used</th><th>Remaining</th><th>Used %</th><th>Blocks</th></tr>")
    out = []
    for n in nodes:
        node = n.node
        http = (f'<a href="http://{esc(node.http_address)}/metrics">{esc(node.http_address)}</a>'
                if node.http_address else "")
        percent = f"{100 * n.used / n.capacity:.1f}%" if n.capacity else "-"
        out.append(f'<tr class={"live" if n.alive else "dead"}><td>{esc(node.host_label)}</td>'
                   f"<td>{esc(node.transfer_address)}</td><td>{http}</td>"
                   f"<td>{'live' if n.alive else 'dead'}{_admin(node)}</td><td class=n>{n.last_heartbeat_s_ago:.1f} s ago</td>"
                   f"<td class=n>{size(n.capacity)}</td><td class=n>{size(n.used)}</td>"
                   f"<td class=n>{size(n.remaining)}</td><td class=n>{percent}</td>"
                   f"<td class=n>{n.num_blocks:,}</td></tr>")
    body = "".join(out) or '<tr><td colspan=10>no DataNode has registered</td></tr>'
    return f'<h2 id="datanodes">DataNodes ({len(nodes)})</h2><table>{head}{body}</table>'


# ------------------------------------------------------------------ explorer

def breadcrumbs(path: str) -> str:
    parts = [explorer_link("/", "/")]
    walked = ""
    for name in [p for p in path.split("/") if p]:
        walked += "/" + name
        parts.append(explorer_link(walked, name))
    return '<p class=path>' + " / ".join(parts) + "</p>"


def listing(fsn: Namesystem, path: str, after: str) -> str:
    caller = fsn.ns.caller(WEB_USER)
    entries, remaining = reads.get_listing(fsn, caller, path, after, PAGE_ENTRIES)
    head = ("<tr><th>Permission</th><th>Owner</th><th>Group</th><th>Size</th><th>Last modified</th>"
            "<th>Replication</th><th>Block size</th><th>Name</th></tr>")
    out = []
    for st in entries:
        i = st.inode
        name = st.path.rsplit("/", 1)[-1] + ("/" if i.is_dir else "")
        out.append(f"<tr><td><code>{esc(mode_string(i))}</code></td><td>{esc(i.owner)}</td><td>{esc(i.group)}</td>"
                   f"<td class=n>{'' if i.is_dir else size(st.length)}</td><td>{esc(when(i.mtime))}</td>"
                   f"<td class=n>{'' if i.is_dir else i.replication}</td>"
                   f"<td class=n>{'' if i.is_dir else size(i.block_size)}</td>"
                   f"<td>{explorer_link(st.path, name)}</td></tr>")
    body = "".join(out) or "<tr><td colspan=8>empty directory</td></tr>"
    more = ""
    if remaining and entries:
        query = urllib.parse.urlencode({"path": path, "after": entries[-1].path.rsplit("/", 1)[-1]})
        more = f'<p><a href="/explorer?{query}">next {min(remaining, PAGE_ENTRIES):,} of {remaining:,} more</a></p>'
    return f"{breadcrumbs(path)}<table>{head}{body}</table>{more}"


def download_url(fsn: Namesystem, path: str, located: list) -> str:
    """A DataNode's WebHDFS OPEN for ``path``: one holding a replica of the first block,
    else any live DataNode with an HTTP server (it reads from the holders)."""
    holders = [n for _b, _off, nodes in located[:1] for n in nodes] + fsn.datanodes.live()
    for node in holders:
        if node.http_address:
            query = urllib.parse.urlencode({"op": "OPEN", "namenoderpcaddress": fsn.nameservice})
            return f"http://{node.http_address}/webhdfs/v1{urllib.parse.quote(path)}?{query}"
    return ""


def file_details(fsn: Namesystem, st: reads.Status) -> str:
    caller = fsn.ns.caller(WEB_USER)
    i = st.inode
    found = reads.get_block_locations(fsn, caller, st.path, 0, 0, "")
    layout = Layout(found.layout)
    pairs = [("Path", esc(st.path)), ("Size", esc(f"{size(st.length)} ({st.length:,} bytes)")),
             ("Owner", esc(i.owner)), ("Group", esc(i.group)), ("Permission", f"<code>{esc(mode_string(i))}</code>"),
             ("Last modified", esc(when(i.mtime))), ("Replication", esc(i.replication)),
             ("Block size", esc(size(i.block_size))), ("Layout", esc(layout.name.lower())),
             ("Under construction", "yes" if found.under_construction else "no")]
    url = download_url(fsn, st.path, found.located)
    link = f'<p><a href="{esc(url)}">Download</a> (from DataNode {esc(url.split("/")[2])})</p>' if url else \
        "<p>No live DataNode serves HTTP: nothing to download from.</p>"
    head = "<tr><th>Block ID</th><th>Generation stamp</th><th>Offset</th><th>Length</th><th>Replicas on</th></tr>"
    out = []
    for block, offset, nodes in found.located:
        hosts = ", ".join(esc(n.host_label) for n in nodes) or '<span class=bad>no live replica</span>'
        out.append(f"<tr><td>{block.block_id}</td><td>{block.generation_stamp}</td><td class=n>{offset:,}</td>"
                   f"<td class=n>{block.num_bytes:,}</td><td>{hosts}</td></tr>")
    note = ""
    if layout == Layout.PACKED:
        note = f"<p>A small file packed in a container block at offset {found.packed_offset:,}.</p>"
    elif layout == Layout.STAGED:
        note = "<p>A small file held by the NameNode until the packer moves it into a container.</p>"
    body = "".join(out) or "<tr><td colspan=5>no blocks</td></tr>"
    return f"{breadcrumbs(st.path)}<table>{rows(pairs)}</table>{link}<h2>Blocks</h2>{note}<table>{head}{body}</table>"


ERROR_STATUS = {errors.NotFound: 404, errors.AccessDenied: 403}


def add_routes(app: web.Application) -> None:
    async def index(request: web.Request) -> web.Response:
        fsn, cfg = request.app["fsn"], request.app["cfg"]
        security = (f"{cfg.security.auth} auth, TLS {'on' if cfg.security.tls else 'off'}")
        return page(f"NameNode {fsn.nameservice}", overview(fsn, security), fsn, refresh=True)

    async def explorer(request: web.Request) -> web.Response:
        fsn = request.app["fsn"]
        path = request.query.get("path", "/") or "/"
        try:
            st = reads.get_file_info(fsn, fsn.ns.caller(WEB_USER), path)
            body = (listing(fsn, st.path, request.query.get("after", "")) if st.inode.is_dir
                    else file_details(fsn, st))
        except errors.HfedError as e:
            status = next((code for kind, code in ERROR_STATUS.items() if isinstance(e, kind)), 400)
            response = page("Browse the file system", f"<p class=bad>{esc(e)}</p>", fsn, refresh=False)
            response.set_status(status)
            return response
        return page(f"Browse {path}", body, fsn, refresh=False)

    app.router.add_get("/", index)
    app.router.add_get("/explorer", explorer)
