"""Delegation tokens (HDFS's): a job's workers act as its owner without the owner's credentials.

The owner asks a NameNode for a token naming a renewer; the token is valid for
``renew_interval`` unless the renewer renews it, and never past ``max_lifetime``
after it was issued; the owner or the renewer may cancel it. Each NameNode
issues and checks its own (as each HDFS namespace does): the identifier names
the namespace, the mac uses a key derived from the cluster secret for it, and
the live tokens (sequence number -> owner, renewer, expiry) are kept in
``delegation_tokens.json`` in the meta_dir (0600), so a restart keeps them.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from protos import errors, security
from protos.files import replace_atomically
from protos.log_limit import RateLimitedLog

log = logging.getLogger(__name__)
audit = RateLimitedLog(log)     # any user may ask for tokens in a loop: a line per 10 s, with a count
STATE_FILE = "delegation_tokens.json"
MAX_LIVE_PER_OWNER = 100        # a loop asking for tokens must not grow the NameNode (and its state file)


class DelegationTokens:
    def __init__(self, secret: bytes, nameservice: str, meta_dir: str | None, renew_interval: float,
                 max_lifetime: float):
        self.nameservice = nameservice
        self.key = security.derive(secret, f"delegation:{nameservice}")
        self.renew_ms = int(renew_interval * 1000)
        self.max_ms = int(max_lifetime * 1000)
        self.path = Path(meta_dir) / STATE_FILE if meta_dir else None
        self.live: dict[int, dict] = {}     # sequence number -> {"o", "r", "x", "m"}
        self.next_seq = 1
        if self.path is not None and self.path.exists():
            state = json.loads(self.path.read_text())
            self.live = {int(seq): entry for seq, entry in state["live"].items()}
            self.next_seq = state["next_seq"]

    def _save(self) -> None:
        if self.path is not None:
            state = {"next_seq": self.next_seq, "live": {str(k): v for k, v in self.live.items()}}
            replace_atomically(self.path, json.dumps(state), durable=True, mode=0o600)

    def _purge(self, now: int) -> None:
        for seq in [seq for seq, entry in self.live.items() if entry["x"] < now]:
            del self.live[seq]

    def issue(self, owner: str, renewer: str) -> tuple[str, int, int]:
        """(token, expiry ms, max date ms) of a new token for ``owner``."""
        now = security.now_ms()
        self._purge(now)
        if sum(entry["o"] == owner for entry in self.live.values()) >= MAX_LIVE_PER_OWNER:
            raise errors.NoSpace(f"namespace {self.nameservice}: {owner} already holds {MAX_LIVE_PER_OWNER} "
                                 f"live delegation tokens: cancel some (hfed fetchdt -cancel FILE)")
        seq, self.next_seq = self.next_seq, self.next_seq + 1
        max_date = now + self.max_ms
        entry = {"o": owner, "r": renewer, "x": min(now + self.renew_ms, max_date), "m": max_date}
        self.live[seq] = entry
        self._save()
        token = security.sign(self.key, {"k": "dt", "o": owner, "r": renewer, "i": now, "m": max_date, "n": seq,
                                         "ns": self.nameservice})
        audit.warning("issue", f"delegation token {seq} issued to {owner} (renewer {renewer or '-'})", logging.INFO)
        return token, entry["x"], max_date

    def check(self, token: str) -> dict:
        """The token's fields if this NameNode issued it and it is neither expired nor cancelled."""
        claimed = security.decode(token).get("ns")
        if claimed != self.nameservice:     # each namespace issues its own (fetchdt gets one from each)
            raise errors.Unauthenticated(f"namespace {self.nameservice}: the delegation token is for "
                                         f"namespace {claimed}")
        fields = security.verify(token, self.key, "dt")
        entry = self.live.get(fields.get("n"))
        if entry is None:
            raise errors.Unauthenticated(f"namespace {self.nameservice}: delegation token {fields.get('n')} of "
                                         f"{fields.get('o')} was cancelled or has expired")
        if security.now_ms() > entry["x"]:
            raise errors.Unauthenticated(f"namespace {self.nameservice}: delegation token {fields.get('n')} of "
                                         f"{fields.get('o')} expired (not renewed in time)")
        return fields

    def expiry_of(self, fields: dict) -> int:
        return self.live[fields["n"]]["x"]

    def renew(self, token: str, user: str) -> int:
        fields = self.check(token)
        entry = self.live[fields["n"]]
        if not entry["r"] or user != entry["r"]:
            raise errors.AccessDenied(f"namespace {self.nameservice}: {user} may not renew delegation token "
                                      f"{fields['n']} (its renewer is {entry['r'] or 'nobody'})")
        entry["x"] = min(security.now_ms() + self.renew_ms, entry["m"])
        self._save()
        return entry["x"]

    def cancel(self, token: str, user: str, superuser: bool) -> None:
        fields = self.check(token)
        entry = self.live[fields["n"]]
        if user not in (entry["o"], entry["r"]) and not superuser:
            raise errors.AccessDenied(f"namespace {self.nameservice}: {user} may not cancel delegation token "
                                      f"{fields['n']} of {entry['o']}")
        del self.live[fields["n"]]
        self._save()
        audit.warning("cancel", f"delegation token {fields['n']} of {entry['o']} cancelled by {user}", logging.INFO)
