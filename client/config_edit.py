"""Changes `hfed cluster` makes to a user's config file, made the way a person would: only the
keys and tables asked for change, everything else (comments, "64M" sizes, key order, fixed
addresses) stays byte for byte (tomlkit keeps the document's formatting).

Each change is checked by loading the result (protos/config.py) before the file is replaced
atomically, so a change that would make the config invalid leaves the file as it was.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import tomlkit

from protos import config as hconfig
from protos.files import replace_atomically


class ConfigEdit:
    """Edits of one config file, written together by ``save()``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.original = self.path.read_text()
        self.doc = tomlkit.parse(self.original)
        self.changes: list[str] = []     # one phrase per change, for the user

    def set_top(self, key: str, value, shown: str | None = None) -> None:
        """Set a top-level key (e.g. replication)."""
        before = self.doc.get(key)
        self.doc[key] = value
        self.changes.append(f"{key} = {shown or value}" + (f" (was {before})" if before is not None else ""))

    def add_nameservice(self, name: str, address: str, meta_dir: str, **settings) -> None:
        self._table("nameservices")[name] = _table(address=address, meta_dir=meta_dir, **settings)
        self.changes.append(f"[nameservices.{name}] added")

    def add_datanode(self, label: str, data_dir: str) -> None:
        self._table("datanodes")[label] = _table(data_dir=data_dir)
        self.changes.append(f"[datanodes.{label}] added")

    def _table(self, key: str):
        if key not in self.doc:
            self.doc[key] = tomlkit.table(is_super_table=True)
        return self.doc[key]

    def text(self) -> str:
        return tomlkit.dumps(self.doc)

    def save(self) -> None:
        """Validate, then replace the file (nothing is written when the result would not load)."""
        text = self.text()
        if text == self.original:
            return
        hconfig.from_dict(tomllib.loads(text), str(self.path))   # InvalidArgument naming the file and key
        replace_atomically(self.path, text)

    def restore(self) -> None:
        """Put the file back as it was before ``save()``."""
        if self.path.read_text() != self.original:
            replace_atomically(self.path, self.original)


def _table(**values):
    table = tomlkit.table()
    for key, value in values.items():
        table[key] = value
    return table
