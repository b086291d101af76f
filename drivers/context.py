"""`async with driver:` for every driver: open the link on entry, close it on exit."""

from __future__ import annotations

from typing import ClassVar, Self


class AsyncContext:
    """Mixin for a driver used as `async with driver: ...`.

    `opens_with` names the driver's opening method: `connect` for the potentiostats (which
    may re-attach to a running step), `open` for the others.
    """

    opens_with: ClassVar[str] = "open"

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await getattr(self, self.opens_with)()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
