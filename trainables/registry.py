"""One registry style for every kind of named entry (model families, tasks, recipes, search
spaces, samplers): a read-only mapping from name to entry, in the order registered, whose
``named`` says which names it knows when asked for one it does not."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownName(KeyError, ValueError):
    """A name no entry is registered under (a KeyError and a ValueError, as lookups were)."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Mapping[str, T], Generic[T]):
    def __init__(self, kind: str, plural: str | None = None):
        self.kind, self.plural = kind, plural or f"{kind}s"
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register what it decorates under ``name``."""
        return lambda entry: self.add(name, entry)

    def named(self, name: str) -> T:
        """The entry called ``name``; the error lists the known names."""
        if name not in self._entries:
            known = ", ".join(self.names())
            raise UnknownName(f"unknown {self.kind} {name!r}; known {self.plural}: {known}")
        return self._entries[name]

    def names(self) -> list[str]:
        return list(self._entries)

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
