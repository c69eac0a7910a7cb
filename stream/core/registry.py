"""Named, ordered entries where things vary (engines, source kinds, depth formats).

Adding a kind of thing is one module and one ``register`` call; the config and command-line
choices are the registry's ``names()``, so they cannot fall out of step with what exists.
An unknown name is a one-line ``ConfigError`` listing the known ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar, overload

from stream.core.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries by name, in registration order; ``last`` names a catch-all that stays at the end."""

    def __init__(self, what: str, last: str | None = None) -> None:
        self.what = what
        self.last = last
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, entry: T) -> T: ...

    def register(self, name: str, entry: T | None = None) -> T | Callable[[T], T]:
        """Add ``entry`` as ``name`` (``@REG.register("name")`` as a decorator); a name is registered once."""
        if entry is None:
            return lambda given: self.register(name, given)
        if name in self._entries:
            raise ValueError(f"{self.what} {name!r} is already registered; unregister it first")
        self._entries[name] = entry
        if self.last is not None and name != self.last and self.last in self._entries:
            self._entries[self.last] = self._entries.pop(self.last)  # the catch-all stays last
        return entry

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    @contextmanager
    def registered(self, name: str, entry: T) -> Iterator[T]:
        """``entry`` registered as ``name`` inside the ``with`` block only (tests, plug-ins tried once)."""
        self.register(name, entry)
        try:
            yield entry
        finally:
            self.unregister(name)

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(f"unknown {self.what} {name!r}; choose one of {', '.join(self._entries)}") from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self) -> tuple[tuple[str, T], ...]:
        return tuple(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[T]:
        return iter(tuple(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<Registry of {self.what}: {', '.join(self._entries)}>"
