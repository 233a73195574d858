"""A registry of named things (model families, data domains): registered by their modules on import, found again by
the name saved files record."""
from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, what: str, unknown: type[ValueError]):
        self.what, self.unknown = what, unknown  # "model family"; the error an unknown name raises
        self._items: dict[str, T] = {}

    def register(self, item: T) -> T:
        self._items[item.name] = item
        return item

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise self.unknown(f"unknown {self.what} {name!r} (this version knows {', '.join(self._items)})") from None

    def all(self) -> list[T]:
        return list(self._items.values())
