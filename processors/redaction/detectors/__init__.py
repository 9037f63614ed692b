"""One detector per kind of personal data, presidio-style: each module holds
its ``PATTERNS``, its ``CONTEXT`` words and its validator.

The registry is the one list of detectors. Every module of this package is
imported and each ``Detector`` subclass in it with a ``KIND`` is registered,
in ``PRIORITY`` order; the config's ``detectors`` and ``operators`` names, the
rules and the raw scan all read ``DETECTORS``. A detector from elsewhere is
added with ``register`` before ``processors.redaction.config`` is imported.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from processors.redaction.detectors.base import Detector, Finding, Pattern, context_tokens

# In priority order: when two findings cover the same text, the earlier kind wins.
DETECTORS: dict[str, type[Detector]] = {}

# The config module builds its name Literals from DETECTORS when it is imported.
_CONFIG_MODULE = "processors.redaction.config"


def register(cls: type[Detector]) -> type[Detector]:
    """Add a detector class to the registry (usable as a decorator); DETECTORS stays in priority order."""
    if _CONFIG_MODULE in sys.modules:
        # Its Literals are fixed already: a later kind would be refused by the config.
        raise RuntimeError(f"register {getattr(cls, 'KIND', cls)!r} before {_CONFIG_MODULE} is imported")
    return _add(cls)


def _add(cls: type[Detector]) -> type[Detector]:
    if not (isinstance(cls, type) and issubclass(cls, Detector)) or not cls.KIND:
        raise TypeError(f"{cls!r} is not a Detector subclass with a KIND")
    if DETECTORS.get(cls.KIND, cls) is not cls:
        raise ValueError(f"detector kind {cls.KIND!r} is registered twice")
    clash = next((k for k, c in DETECTORS.items() if c.PRIORITY == cls.PRIORITY and c is not cls), None)
    if clash is not None:
        raise ValueError(f"detectors {clash!r} and {cls.KIND!r} share priority {cls.PRIORITY}")
    ordered = sorted({**DETECTORS, cls.KIND: cls}.items(), key=lambda kv: kv[1].PRIORITY)
    DETECTORS.clear()
    DETECTORS.update(ordered)
    return cls


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Detector) and obj.__module__ == module.__name__ and obj.KIND:
                _add(obj)  # the config module may be importing this package right now


_discover()

__all__ = ["DETECTORS", "Detector", "Finding", "Pattern", "context_tokens", "register"]
