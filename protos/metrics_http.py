"""/metrics and /jmx for every daemon: one set of figures ("beans", as Hadoop's JMX
names them), read at scrape time, served two ways.

- ``/jmx``: Hadoop's JMX JSON, ``{"beans": [{"name": "Hadoop:service=NameNode,name=...",
  attribute: value, ...}]}``; ``?qry=`` selects beans by name (``*`` matches anything,
  as in an ObjectName pattern: ``?qry=Hadoop:service=NameNode,name=*``).
- ``/metrics``: Prometheus text from ``prometheus_client`` (the daemon's own registry, never
  the process-global one). A bean that has a Prometheus ``record`` gives one gauge per
  numeric attribute, named as Hadoop's Prometheus sink names them: the snake case of
  record and attribute (FSNamesystem + FilesTotal -> ``fs_namesystem_files_total``).
  Histograms and counters a daemon registers itself are served beside them.
"""
from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

_WORD = re.compile(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])")


def snake(name: str) -> str:
    """FSNamesystem -> fs_namesystem, NumLiveDataNodes -> num_live_data_nodes."""
    return _WORD.sub("_", name).lower()


@dataclass
class Bean:
    """One JMX bean. ``record``: its Prometheus record name (None: JMX only);
    ``labels`` go on each of its Prometheus samples."""
    name: str
    attributes: dict
    record: str | None = None
    labels: dict = field(default_factory=dict)
    help: dict = field(default_factory=dict)     # attribute -> what it means (Prometheus HELP)

    def as_json(self) -> dict:
        return {"name": self.name, **self.attributes}


class BeanCollector:
    """A prometheus_client collector: the numeric attributes of the beans ``beans()`` returns."""

    def __init__(self, beans: Callable[[], Iterable[Bean]]):
        self.beans = beans

    def collect(self):
        families: dict[str, GaugeMetricFamily] = {}
        for bean in self.beans():
            if bean.record is None:
                continue
            label_names = sorted(bean.labels)
            for attribute, value in bean.attributes.items():
                if isinstance(value, bool):
                    value = int(value)
                if not isinstance(value, (int, float)):
                    continue          # strings stay in /jmx
                name = f"{snake(bean.record)}_{snake(attribute)}"
                family = families.get(name)
                if family is None:
                    family = families[name] = GaugeMetricFamily(
                        name, bean.help.get(attribute, f"{bean.record} {attribute}"), labels=label_names)
                family.add_metric([str(bean.labels[k]) for k in label_names], value)
        yield from families.values()


def matches(query: str, name: str) -> bool:
    """Hadoop's ``?qry=``: an ObjectName pattern, ``*`` and ``?`` as wildcards."""
    return fnmatch.fnmatchcase(name, query)


def add_routes(app: web.Application, registry: CollectorRegistry, beans: Callable[[], list[Bean]]) -> None:
    """Serve ``/metrics`` (``registry``, which should hold a BeanCollector of ``beans``) and ``/jmx``."""
    async def metrics(_request: web.Request) -> web.Response:
        # Scraped on the daemon's own loop: the figures are read between requests, never during one.
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def jmx(request: web.Request) -> web.Response:
        query = request.query.get("qry", "*")
        selected = [bean.as_json() for bean in beans() if matches(query, bean.name)]
        return web.Response(text=json.dumps({"beans": selected}, indent=2, default=str),
                            content_type="application/json")

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/jmx", jmx)
