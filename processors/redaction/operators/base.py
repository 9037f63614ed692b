"""What an operator does to a finding: replace the text, or drop the entry."""

from __future__ import annotations

import abc
from typing import ClassVar


class Operator(abc.ABC):
    NAME: ClassVar[str]
    #: Whether a keyed entry (an attribute, a map entry) holding a finding is removed whole.
    drops_entry: ClassVar[bool] = False

    @abc.abstractmethod
    def replace(self, normalized: str, placeholder: str) -> str:
        """The text that stands in for one finding (``normalized`` is the detector's canonical form)."""

    def replace_bytes(self, data: bytes, placeholder: str) -> str:
        """The stand-in for a whole non-string value (a blocked key holding an int, a map)."""
        return self.replace(data.decode("utf-8", "replace"), placeholder)
