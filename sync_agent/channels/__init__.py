"""One module per marketplace kind: its adapter (all of that marketplace's
HTTP detail) and its pure ``normalize_order(raw) -> Order``."""
from __future__ import annotations

import importlib
from types import ModuleType


def adapter_module(kind: str) -> ModuleType:
    "The module of a channel kind (shopify, woocommerce …)"
    if not kind.isidentifier():
        raise KeyError(kind)
    try:
        return importlib.import_module(f'{__name__}.{kind}')
    except ModuleNotFoundError:
        raise KeyError(kind) from None
