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

ALL_DETECTORS: tuple[str, ...] = tuple(DETECTORS)
#: Rules besides the detectors, each with its own operator.
OTHER_RULES: tuple[str, ...] = ("blocked_key", "blocked_value", "url", "sql")
# Built from the registry, so that a new detector is a valid name here without an edit.
DetectorKind = Literal[ALL_DETECTORS]  # type: ignore[valid-type]
RuleName = Literal[ALL_DETECTORS + OTHER_RULES]  # type: ignore[valid-type]
OperatorName = Literal["mask", "redact", "hash"]
Summary = Literal["debug", "info", "silent"]
ScanEngine = Literal["auto", "hyperscan", "re2"]

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
    enabled: bool = Field(
        default=True,
        description="Replace URL query values and userinfo, in URLs found in any string and in attributes. "
                    "Default true. Fails open when false: query values and userinfo are kept.",
    )
    attributes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_URL_ATTRIBUTES),
        description=f"Keys whose whole value is a URL, a target (/p?q=) or a bare query (url.query). Default "
                    f"{', '.join(DEFAULT_URL_ATTRIBUTES)}. Fails open for a key left out: only URLs the free-text "
                    "scan recognises in its value are sanitised.",
    )


class SqlSanitizerConfig(ComponentConfig):
    enabled: bool = Field(
        default=True,
        description="Replace string, number and hex literals of SQL statements with ?. Default true. "
                    "Fails open when false: literals are kept (detectors still run on them).",
    )
    attributes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SQL_ATTRIBUTES),
        description=f"Keys whose whole value is an SQL statement. Default {', '.join(DEFAULT_SQL_ATTRIBUTES)}. "
                    "Fails open for a key left out: its value is read as free text.",
    )
    free_text: bool = Field(
        default=True,
        description="Also replace the literals of SQL statements found in any other string (a log body, an "
                    "exception message): a statement head (SELECT ... FROM, INSERT INTO, UPDATE ... SET, DELETE FROM) "
                    "with a quoted literal after an operator. Default true. Fails open when false: statements "
                    "outside the attributes keep their literals.",
    )


class TaintConfig(ComponentConfig):
    enabled: bool = Field(
        default=True,
        description="A value replaced under a blocked key or found by a detector (geo aside) is replaced wherever "
                    "else it appears verbatim. Default true. Fails open when false: a repeat of the value in text "
                    "no rule recognises is kept.",
    )
    scope: Literal["record", "request"] = Field(
        default="record",
        description="Where else: record = the same span (with its events and links), log record (body and "
                    "attributes), data point, resource or scope; request = the whole request (every request with "
                    "a finding is then walked whole). Default record. Fails open for repeats outside the scope: "
                    "they are kept.",
    )
    min_length: int = Field(
        default=6, ge=4,
        description="Values shorter than this never spread, so a flag or a count under a blocked key (1, true, "
                    "false, yes) leaves the text beside it alone. Default 6; under 4 is refused at startup. "
                    "Fails open for shorter values: their repeats are kept.",
    )


class DbSanitizerConfig(ComponentConfig):
    sql: SqlSanitizerConfig = Field(
        default_factory=SqlSanitizerConfig,
        description="The SQL sanitiser. Default enabled, on db.statement and db.query.text and in free text. "
                    "Fails closed: a bad key below it is refused at startup.",
    )


class TruncationConfig(ComponentConfig):
    max_items: int = Field(
        default=pii.MAX_ITEMS, ge=0,
        description=f"Arrays and maps in values keep this many items; 0 = off. Default {pii.MAX_ITEMS}. "
                    "Fails closed: the items past the limit are removed, not passed.",
    )
    max_string_length: int = Field(
        default=pii.MAX_STRING_LENGTH, ge=0,
        description=f"Strings keep this many characters (the last one becomes {pii.TRUNCATION_MARK}); 0 = off. "
                    f"Default {pii.MAX_STRING_LENGTH}; 1 to 15 is refused at startup. Fails closed: the text past "
                    "the limit is cut (detectors still read 1024 characters past the cut).",
    )

    @field_validator("max_string_length")
    @classmethod
    def _room_for_marker(cls, v: int) -> int:
        if 0 < v < 16:
            raise ValueError(f"{v} is too short to be useful, should be 0 (off) or >= 16")
        return v


class RedactionConfig(ComponentConfig):
    """See README.md for each key's meaning, default and failure mode.

    A bad value of any key is refused at startup, naming its key path. At run time a request
    that is not valid protobuf is refused (INVALID_ARGUMENT), and an internal error refuses the
    request (INTERNAL): nothing is forwarded unredacted. Each description says whether the key,
    as set, fails open (the data passes) or closed (it is removed or replaced).
    """

    allow_all_keys: bool = Field(
        default=True,
        description="Keep every key (its value still goes through every rule). Default true. Fails open as true: "
                    "a key passes; false = allow-list mode, fails closed: keys not in allowed_keys are removed, "
                    "and every request is walked.",
    )
    allowed_keys: list[str] = Field(
        default_factory=list,
        description="The allow-list (exact keys). Default []. Fails closed: empty removes every attribute; set "
                    "while allow_all_keys is true, it is refused at startup.",
    )
    ignored_keys: list[str] = Field(
        default_factory=list,
        description="Keys passed through untouched by every rule, truncation included. Default []. Fails open: "
                    "their values are never looked at.",
    )
    blocked_keys: list[RegexStr] = Field(
        default_factory=lambda: list(DEFAULT_BLOCKED_KEYS),
        description="Key regexes (RE2, ASCII) whose values are replaced whatever their type. Default the shared key "
                    "policy (passwords, secrets, tokens, authorization, cookies, signatures, API/access/private, "
                    "file and object keys, message bodies); a list replaces it. Fails closed: a match masks the "
                    "whole value; an invalid pattern is refused at startup.",
    )
    blocked_values: list[RegexStr] = Field(
        default_factory=list,
        description="Value regexes (RE2, ASCII) whose matches are replaced (rule blocked_value). Default []. Fails "
                    "closed: an invalid pattern, or one that matches the empty string, is refused at startup.",
    )
    allowed_values: list[RegexStr] = Field(
        default_factory=list,
        description="A finding whose text matches one of these regexes is kept as it is. Default []. Fails open: "
                    "what they match passes unredacted.",
    )
    detectors: list[DetectorKind] = Field(
        default_factory=lambda: list(ALL_DETECTORS),
        description=f"Which detectors run. Default all: {', '.join(ALL_DETECTORS)}. Fails open for a detector "
                    "left out: its kind is not looked for; an unknown or repeated name is refused at startup.",
    )
    operator: OperatorName = Field(
        default="mask",
        description="What every rule does unless operators says otherwise: mask, redact or hash. Default mask. "
                    "Fails closed: every operator replaces or removes what was found.",
    )
    operators: dict[RuleName, OperatorName] = Field(
        default_factory=dict,
        description="Per-rule operator (the detectors, blocked_key, blocked_value, url, sql); geo rounds unless "
                    "named. Default {}. Fails closed: an unknown rule or operator is refused at startup.",
    )
    hash_key: Annotated[SecretStr | None, BeforeValidator(_secret_text)] = Field(
        default=None,
        description="HMAC-SHA256 key for the hash operator, from the environment: ${env:REDACTION_HMAC_KEY}. "
                    "Default unset. Fails closed: required (16 bytes or more) when an operator is hash, else "
                    "refused at startup; never logged nor echoed.",
    )
    geo_precision: int = Field(
        default=DEFAULT_PRECISION, ge=0, le=6,
        description=f"Decimals kept of coordinates, 0 to 6. Default {DEFAULT_PRECISION}. Fails closed: finer "
                    "coordinates are rounded; outside 0 to 6 is refused at startup.",
    )
    url_sanitizer: UrlSanitizerConfig = Field(
        default_factory=UrlSanitizerConfig,
        description="The URL sanitiser. Default enabled, on the URL attributes and in free text. Fails closed: a "
                    "bad key below it is refused at startup.",
    )
    db_sanitizer: DbSanitizerConfig = Field(
        default_factory=DbSanitizerConfig,
        description="Database statement sanitisers (sql). Default the SQL sanitiser enabled. Fails closed: a bad "
                    "key below it is refused at startup.",
    )
    truncation: TruncationConfig = Field(
        default_factory=TruncationConfig,
        description=f"Limits on arrays, maps and strings in values. Default {pii.MAX_ITEMS} items, "
                    f"{pii.MAX_STRING_LENGTH} characters. Fails closed: what is past a limit is removed.",
    )
    taint: TaintConfig = Field(
        default_factory=TaintConfig,
        description="Replacing a found value where else it repeats. Default enabled, per record, 6 characters "
                    "and more. Fails closed: a bad key below it is refused at startup.",
    )
    summary: Summary = Field(
        default="silent",
        description="Summary attributes: debug (counts, keys), info (counts), silent (none). Default silent. "
                    "Fails closed: counts and key names only, never values.",
    )
    fast_path: bool = Field(
        default=True,
        description="Scan raw bytes first and forward clean requests unparsed. Default true. Fails closed: a hit "
                    "the splice or the locator cannot read walks the request with the exact rules; false walks "
                    "every request, with the same output.",
    )
    scan_engine: ScanEngine = Field(
        default="auto",
        description="hyperscan, re2 (tells clean from dirty, locates nothing: a dirty request is walked whole), or "
                    "auto (hyperscan where installed). Default auto. Fails closed: hyperscan when it is not "
                    "installed, or a pattern the engine refuses, is refused at startup.",
    )
    cache_size: int = Field(
        default=16384, ge=0,
        description="Verdicts kept for repeated values up to 1024 characters; 0 = no cache. Default 16384. "
                    "Fails closed: a cached verdict is the one the rules give, so nothing passes that they would "
                    "replace.",
    )

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
