"""Model families from other packages, found through package entry points (as timm and pytest
find theirs).

A package adds a family without touching this repository by declaring, in its
``pyproject.toml``::

    [project.entry-points."scac_bench.families"]
    toy = "toy_family:ToyFamily"      # a ModelFamily subclass (or instance), or a module
                                      # whose import registers families with @register

Every process that reads a config (planning, training, workers, tables) loads the installed
plugins once, when :mod:`scac.families` is imported. A plugin that fails to import, registers
nothing or takes a name already taken is one :class:`PluginWarning` naming it and its package;
the built-in families and the other plugins go on working. :data:`ORIGINS` says where every
family comes from (``bench model list`` prints it).

Keep a plugin's heavy imports (torch, its model code) inside ``build`` and ``objective``, as the
built-in families do: the plugin loads with every config, also where no model is built.
"""

from __future__ import annotations

import warnings
from importlib.metadata import EntryPoint, entry_points

from scac.families.base import FAMILIES, ModelFamily

GROUP = "scac_bench.families"

# family name -> where it comes from ("built in: scac.families.srn", "toy-family 0.1 ...")
ORIGINS: dict[str, str] = {}


class PluginWarning(UserWarning):
    """A model family plugin could not be loaded; the message names it and its package."""


def _describe(ep: EntryPoint) -> str:
    dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "an unknown package"
    return f"plugin {ep.name!r} ({ep.value}) of {dist}"


def _register(obj: object) -> None:
    """Register what an entry point named: a family class or instance; a module registered
    its families when it was imported."""
    if isinstance(obj, type) and issubclass(obj, ModelFamily):
        obj = obj()
    if isinstance(obj, ModelFamily):
        FAMILIES.add(obj.name, obj)


def load_plugins() -> list[str]:
    """Import every installed ``scac_bench.families`` plugin; the names of the families they
    added. Built-in families are recorded in :data:`ORIGINS` first."""
    for name in FAMILIES.names():
        ORIGINS.setdefault(name, f"built in: {type(FAMILIES.get(name)).__module__}")
    added: list[str] = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        before = set(FAMILIES.names())
        try:
            _register(ep.load())
        except Exception as err:  # noqa: BLE001 - any failure of foreign code is one warning
            for name in set(FAMILIES.names()) - before:  # a module that failed half-way
                FAMILIES.remove(name)
            warnings.warn(
                f"model family {_describe(ep)} was not loaded: {type(err).__name__}: {err}",
                PluginWarning,
                stacklevel=2,
            )
            continue
        new = sorted(set(FAMILIES.names()) - before)
        if not new:
            warnings.warn(
                f"model family {_describe(ep)} registered no family (it should name a "
                "ModelFamily subclass, or a module that registers one)",
                PluginWarning,
                stacklevel=2,
            )
        for name in new:
            ORIGINS[name] = _describe(ep)
        added += new
    return added


def describe() -> list[tuple[str, str, str]]:
    """``(name, origin, summary)`` of every registered family, by name: the summary is the first
    line of its class's docstring, the origin where it comes from (a family registered at run
    time, by a script or a test, says so)."""
    out = []
    for name in FAMILIES.names():
        family = FAMILIES.get(name)
        doc = (type(family).__doc__ or "").strip().splitlines()
        summary = doc[0].replace("``", "") if doc else ""
        out.append((name, ORIGINS.get(name, "registered at run time"), summary))
    return out
