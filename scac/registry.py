"""Tiny, strict registries for the ablation axes (backbones, fusions, aggregations, models).

A registry maps a name to a builder. Registering a name twice raises; looking up an unknown
name raises a ``ValueError`` that lists the known names, so a typo in a study file fails at
build time with the fix in the message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A named, strict mapping from names to objects (usually builders).

    Args:
        kind: what the registry holds, used in error messages (e.g. ``"backbone"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name``; a duplicate name raises."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        """Register ``obj`` under ``name``; raises ``ValueError`` if the name is taken."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def remove(self, name: str) -> T:
        """Unregister ``name`` (a plugin or a test that registered it for a while)."""
        if name not in self._items:
            raise ValueError(f"{self.kind} {name!r} is not registered")
        return self._items.pop(name)

    def get(self, name: str) -> T:
        """Return the object registered under ``name``; unknown names list the known ones."""
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise ValueError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        """Sorted registered names."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
