"""The ``redaction`` processor's config: one field per YAML key.

Key names follow the Collector's redactionprocessor where they mean the same
thing (allow_all_keys, allowed_keys, ignored_keys, blocked_values,
allowed_values, summary, url_sanitizer, db_sanitizer). Patterns use RE2
syntax, as the Collector's Go regexp does, and must be ASCII.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import re2
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from contracts import pii
from processors.config import ComponentConfig
from processors.redaction.detectors import DETECTORS
from processors.redaction.detectors.geo import DEFAULT_PRECISION
from processors.redaction.operators.hash import MIN_KEY_BYTES

DetectorKind = Literal["email", "phone", "jwt", "api_key", "credit_card", "iban", "ip", "geo"]
OperatorName = Literal["mask", "redact", "hash"]
RuleName = Literal[
    "email", "phone", "jwt", "api_key", "credit_card", "iban", "ip", "geo",
    "blocked_key", "blocked_value", "url", "sql",
]
Summary = Literal["debug", "info", "silent"]
ScanEngine = Literal["auto", "hyperscan", "re2"]

ALL_DETECTORS: tuple[str, ...] = tuple(DETECTORS)

# Keys whose values are replaced whatever they hold: the policy the obs SDK applies too.
DEFAULT_BLOCKED_KEYS: tuple[str, ...] = tuple(f"(?i){p}" for p in pii.BLOCKED_KEY_PATTERNS)
DEFAULT_URL_ATTRIBUTES = ("url.full", "http.url", "url.original", "url.query", "http.target")
DEFAULT_SQL_ATTRIBUTES = pii.SQL_STATEMENT_KEYS

# Escapes that mean non-ASCII characters; the byte scan cannot honour them.
_NON_ASCII_ESCAPE = re.compile(r"\\(?:[pPuUN]|x\{|x[89a-fA-F])")


def _check_pattern(pattern: str) -> str:
    if not pattern.isascii() or _NON_ASCII_ESCAPE.search(pattern):
        raise ValueError("patterns must be ASCII: the fast path matches them byte by byte")
    try:
        compiled = re2.compile(pattern)
    except re2.error as exc:
        raise ValueError(f"not a valid RE2 regex: {exc}") from None
    if compiled.search("") is not None:
        raise ValueError("matches the empty string, so it would match everywhere")
    return pattern


RegexStr = Annotated[str, AfterValidator(_check_pattern)]


def _secret_text(value: Any) -> Any:
    # ${env:KEY} takes the YAML type of what it expands to; a key of digits is still a key.
    return str(value) if isinstance(value, (int, float)) else value


class UrlSanitizerConfig(ComponentConfig):
    enabled: bool = Field(default=True, description="Sanitise URL query values and userinfo. Default true.")
    attributes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_URL_ATTRIBUTES),
        description="Keys whose whole value is a URL, a target (/p?q=) or a bare query (url.query).",
    )


class SqlSanitizerConfig(ComponentConfig):
    enabled: bool = Field(default=True, description="Replace SQL literals with ?. Default true.")
    attributes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SQL_ATTRIBUTES),
        description="Keys whose whole value is an SQL statement. Default db.statement, db.query.text.",
    )
    free_text: bool = Field(
        default=True,
        description="Also replace the literals of SQL statements found in any other string (a log body, an "
                    "exception message): a statement head (SELECT ... FROM, INSERT INTO, UPDATE ... SET, DELETE FROM) "
                    "with a quoted literal after an operator. Default true.",
    )


class TaintConfig(ComponentConfig):
    enabled: bool = Field(
        default=True,
        description="A value replaced under a blocked key or found by a detector (geo aside) is replaced wherever "
                    "else it appears verbatim. Default true.",
    )
    scope: Literal["record", "request"] = Field(
        default="record",
        description="Where else: record = the same span (with its events and links), log record (body and "
                    "attributes), data point, resource or scope; request = the whole request (every request with "
                    "a finding is then walked whole). Default record.",
    )
    min_length: int = Field(
        default=6, ge=4,
        description="Values shorter than this never spread, so a flag or a count under a blocked key (1, true, "
                    "false, yes) leaves the text beside it alone. Default 6.",
    )


class DbSanitizerConfig(ComponentConfig):
    sql: SqlSanitizerConfig = Field(default_factory=SqlSanitizerConfig)


class TruncationConfig(ComponentConfig):
    max_items: int = Field(
        default=pii.MAX_ITEMS, ge=0,
        description=f"Arrays and maps in values keep this many items; 0 = off. Default {pii.MAX_ITEMS}.",
    )
    max_string_length: int = Field(
        default=pii.MAX_STRING_LENGTH, ge=0,
        description=f"Strings keep this many characters (the last one becomes {pii.TRUNCATION_MARK}); 0 = off. "
                    f"Default {pii.MAX_STRING_LENGTH}.",
    )

    @field_validator("max_string_length")
    @classmethod
    def _room_for_marker(cls, v: int) -> int:
        if 0 < v < 16:
            raise ValueError(f"{v} is too short to be useful, should be 0 (off) or >= 16")
        return v


class RedactionConfig(ComponentConfig):
    """See README.md for each key's meaning, default and failure mode."""

    allow_all_keys: bool = Field(
        default=True, description="Keep every key. false = allow-list mode: keys not in allowed_keys are removed."
    )
    allowed_keys: list[str] = Field(
        default_factory=list, description="The allow-list (exact keys); fails closed: empty removes every attribute."
    )
    ignored_keys: list[str] = Field(default_factory=list, description="Keys passed through untouched.")
    blocked_keys: list[RegexStr] = Field(
        default_factory=lambda: list(DEFAULT_BLOCKED_KEYS), description="Key regexes whose values are replaced."
    )
    blocked_values: list[RegexStr] = Field(
        default_factory=list, description="Value regexes whose matches are replaced."
    )
    allowed_values: list[RegexStr] = Field(default_factory=list, description="Matches of these are never replaced.")
    detectors: list[DetectorKind] = Field(default_factory=lambda: list(ALL_DETECTORS))
    operator: OperatorName = Field(default="mask", description="What every rule does unless operators says otherwise.")
    operators: dict[RuleName, OperatorName] = Field(default_factory=dict, description="Per-rule operator.")
    hash_key: Annotated[SecretStr | None, BeforeValidator(_secret_text)] = Field(
        default=None,
        description="HMAC-SHA256 key for the hash operator, from the environment: ${env:REDACTION_HMAC_KEY}.",
    )
    geo_precision: int = Field(default=DEFAULT_PRECISION, ge=0, le=6, description="Decimals kept of coordinates.")
    url_sanitizer: UrlSanitizerConfig = Field(default_factory=UrlSanitizerConfig)
    db_sanitizer: DbSanitizerConfig = Field(default_factory=DbSanitizerConfig)
    truncation: TruncationConfig = Field(default_factory=TruncationConfig)
    taint: TaintConfig = Field(default_factory=TaintConfig)
    summary: Summary = Field(default="silent", description="Summary attributes: debug (counts, keys), info (counts).")
    fast_path: bool = Field(default=True, description="Scan raw bytes first and forward clean requests unparsed.")
    scan_engine: ScanEngine = Field(default="auto", description="hyperscan, re2 (locates nothing), or auto.")
    cache_size: int = Field(default=16384, ge=0, description="Verdicts kept for repeated values; 0 = no cache.")

    @field_validator("detectors")
    @classmethod
    def _unique_detectors(cls, v: list[str]) -> list[str]:
        dupes = sorted({d for d in v if v.count(d) > 1})
        if dupes:
            raise ValueError(f"{', '.join(dupes)} listed more than once")
        return v

    @field_validator("allowed_keys")
    @classmethod
    def _allow_list_needs_mode(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if v and info.data.get("allow_all_keys", True):
            raise ValueError(
                "has no effect while allow_all_keys is true; set allow_all_keys: false for allow-list mode"
            )
        return v

    @model_validator(mode="after")
    def _key_when_hashing(self) -> RedactionConfig:
        # Checked on the whole model, not on the field: a field error would quote the key back.
        key = self.hash_key.get_secret_value() if self.hash_key is not None else ""
        uses_hash = self.operator == "hash" or "hash" in self.operators.values()
        if uses_hash and not key:
            raise ValueError(
                "hash_key: required when an operator is hash; set it from the environment: "
                "hash_key: ${env:REDACTION_HMAC_KEY}"
            )
        if key and len(key.encode()) < MIN_KEY_BYTES:
            raise ValueError(f"hash_key: must be at least {MIN_KEY_BYTES} bytes")
        return self

    def operator_for(self, rule: str) -> str:
        """The operator a rule applies; geo findings reduce precision unless an operator is set for geo."""
        if rule in self.operators:
            return self.operators[rule]
        return "round" if rule == "geo" else self.operator
