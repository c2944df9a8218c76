"""What the lab's test fixtures (the emulated link, the NAT lab, the deployed stack) have in common: a context
manager that builds in ``__enter__`` and tears down whatever it built if building fails half-way."""
from __future__ import annotations

import abc
from types import TracebackType
from typing import Self


class BuiltOrClosed(abc.ABC):
    """``with Thing(...) as thing:`` builds it; ``close()`` runs on the way out, or at once if building fails."""

    @abc.abstractmethod
    def _build(self) -> None:
        """Create everything; may raise part-way (``close`` then removes what exists)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Remove everything that exists; safe to call on a half-built or closed instance."""

    def _before_build(self) -> None:
        """Checks and clean-ups before building (e.g. root, left-overs of a killed run); nothing by default."""

    def __enter__(self) -> Self:
        self._before_build()
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
