"""Extension points other apps plug into the donor workup.

`BILIARY_TYPE_PROVIDERS` holds functions `provider(donor) -> "1" | "2" | "3" | None` giving the
donor's proposed biliary type. The classification app registers one (with
`register_biliary_type_provider`) when it is installed; the workup asks each provider in turn and
takes the first answer that is not None. With no provider the biliary check stays "missing".
"""
from __future__ import annotations

from typing import Callable

BiliaryTypeProvider = Callable[[object], "str | int | None"]

BILIARY_TYPE_PROVIDERS: list[BiliaryTypeProvider] = []


def register_biliary_type_provider(provider: BiliaryTypeProvider) -> BiliaryTypeProvider:
    """Add a provider (usable as a decorator); registering the same function twice is a no-op."""
    if provider not in BILIARY_TYPE_PROVIDERS:
        BILIARY_TYPE_PROVIDERS.append(provider)
    return provider
