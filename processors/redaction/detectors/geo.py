"""Exact geolocation: latitude/longitude pairs in text, ``lat=...`` style
assignments, and decimal numbers under geo keys (``geo.location.lat``,
``longitude``). Its own treatment is to reduce precision, not to mask."""

from __future__ import annotations

import re

from processors.redaction.detectors.base import Detector, Pattern

_NUMBER = re.compile(r"-?[0-9]{1,3}\.[0-9]+")
DEFAULT_PRECISION = 2  # two decimals: about 1 km


class GeoDetector(Detector):
    KIND = "geo"
    PRIORITY = 80
    PATTERNS = (
        # Three decimals or more (about 100 m), each number optionally followed by a degree sign
        # or a hemisphere letter: 52.52437, 13.41053; 52.5244° N, 13.4105° E.
        Pattern("lat_lon_pair",
                r"(?<![\w.-])-?[0-9]{1,2}\.[0-9]{3,15}(?:[^\w\s,;]{0,2}\s?[NSns])?\s?,\s?-?[0-9]{1,3}\.[0-9]{3,15}"
                r"(?:[^\w\s,;]{0,2}\s?[EWew](?![\w]))?(?![\w.])",
                0.4,
                scan=r"\.[0-9]{3}[^,]{0,20},\s?-?[0-9]{1,3}\.[0-9]"),
        Pattern(
            "lat_lon_assignment",
            r"(?i:(?<![A-Za-z])(?:lat|latitude|lon|lng|longitude))[\"']?\s*[=:]\s*[\"']?(?P<pii>-?[0-9]{1,3}\.[0-9]{3,15})(?![0-9])",
            0.4,
            scan=r"(?i)(?:lat|latitude|lon|lng|longitude)[\"']?\s*[=:]\s*[\"']?-?[0-9]{1,3}\.[0-9]{3}",
        ),
        Pattern("coordinate_in_context", r"(?<![\w.-])-?[0-9]{1,3}\.[0-9]{3,15}(?![\w.])", 0.3, needs_context=True),
    )
    CONTEXT = ("geo", "lat", "latitude", "lon", "lng", "longitude", "coordinates")

    def __init__(self, patterns: tuple[Pattern, ...] | None = None, context: tuple[str, ...] | None = None,
                 kind: str | None = None, *, precision: int = DEFAULT_PRECISION) -> None:
        super().__init__(patterns, context, kind)
        self.precision = precision

    def validate_result(self, text: str, pattern: Pattern) -> bool | None:
        texts = _NUMBER.findall(text)
        if not texts:
            return False
        # A coordinate that is already as coarse as the configured precision is not exact geo.
        if all(len(t.split(".")[1]) <= self.precision for t in texts):
            return False
        numbers = [abs(float(t)) for t in texts]
        if pattern.name == "lat_lon_pair":
            # Within a degree of 0, 0 there is only sea: such a pair is a list of fractions (0.123, 0.456).
            return numbers[0] <= 90 and numbers[1] <= 180 and max(numbers) >= 1
        return numbers[0] <= 180

    def transform(self, text: str) -> str | None:
        return _NUMBER.sub(lambda m: self.round_text(m.group()), text)

    def round_text(self, number: str) -> str:
        return f"{round(float(number), self.precision):.{self.precision}f}"

    def round_value(self, value: float) -> float:
        return round(value, self.precision)
