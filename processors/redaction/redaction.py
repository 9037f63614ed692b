"""The redaction processor: scan the raw bytes, and walk only what the scan hit.

1. The raw request is scanned once for every rule (``fastscan``). No hit: the
   payload is returned untouched, so its original bytes are forwarded unparsed.
2. Hits are followed down to the strings that hold them, and only those are
   rewritten in the original bytes (``splice``): nothing else is parsed or
   serialised again.
3. What the splice does not read (span events and links, maps and arrays in
   values, keys that hold a finding, metrics, summaries) pins its hits to the
   resources, scopes and items that hold them (``locate``), and only those are
   walked with the exact rules (``walk``) on the parsed request. A hit that
   cannot be pinned (a string over the length limit, too many hits, the RE2
   engine) walks the whole request.
4. Only if something changed is the payload marked edited; a request whose hits
   were all false alarms keeps its original bytes too.

In allow-list mode every key must be checked, so every request is walked.
"""

from __future__ import annotations

from processors.api import CreateSettings, Payload, Processor, Signal
from processors.redaction.audit import CLEAN, LOCATED, WHOLE, Audit, Tally
from processors.redaction.config import RedactionConfig
from processors.redaction.fastscan import Scanner, build_scanner
from processors.redaction.locate import WireError, locate
from processors.redaction.rules import CacheStats, RuleSet
from processors.redaction.splice import SPECS, Fallback, Splicer
from processors.redaction.walk import LAYOUTS, Walker

# More hits than this in one request and locating them costs more than walking everything.
MAX_LOCATED_HITS = 1024
# The splice reads only the fields that hold hits, so it takes many more (every span of a
# 512-span request can hold a URL, a statement and a few addresses).
MAX_SPLICED_HITS = 1 << 15


class RedactionProcessor(Processor):
    def __init__(self, config: RedactionConfig, settings: CreateSettings) -> None:
        self.config = config
        self.rules = RuleSet(config)
        self.walker = Walker(self.rules, config)
        self.scanner: Scanner | None = None
        self.splicer: Splicer | None = None
        if config.fast_path and config.allow_all_keys:
            # Summaries add attributes to the owner of a change, and request-wide taint reads
            # every item once one has a finding: both are the walk's job.
            splice = config.summary == "silent" and not (config.taint.enabled and config.taint.scope == "request")
            self.scanner = build_scanner(self.rules.scan_patterns(), engine=config.scan_engine,
                                         max_hits=MAX_SPLICED_HITS if splice else MAX_LOCATED_HITS)
            if splice and self.scanner.engine == "hyperscan":
                self.splicer = Splicer(self.walker, config.cache_size)
        self.audit = Audit(settings.telemetry, settings.component_id)
        self.audit.watch_cache(settings.telemetry.registry, self._cache_info)
        self._log = settings.logger.getChild(settings.component_id)
        self._log.info(
            "redaction: %d detectors, %d blocked keys, fast path %s", len(self.rules.detectors),
            len(config.blocked_keys), self.scanner.engine if self.scanner else "off",
        )

    def _cache_info(self) -> CacheStats:
        """The rules' verdict cache, plus the values the splice answered from its own."""
        info = self.rules.cache_info()
        if self.splicer is None:
            return info
        return info._replace(hits=info.hits + self.splicer.cache_hits)

    def process_traces(self, payload: Payload) -> Payload | None:
        return self._process(payload, Signal.TRACES)

    def process_metrics(self, payload: Payload) -> Payload | None:
        return self._process(payload, Signal.METRICS)

    def process_logs(self, payload: Payload) -> Payload | None:
        return self._process(payload, Signal.LOGS)

    def _process(self, payload: Payload, signal: Signal) -> Payload:
        located = None
        if self.scanner is not None:
            raw = payload.raw
            result = self.scanner.scan(raw)
            if result.clean:
                self.audit.request(signal.value, CLEAN, 0, {})
                return payload
            if not result.whole and self.splicer is not None and signal in SPECS:
                try:
                    edited, items, tally = self.splicer.edit(raw, signal, result.hits)
                except Fallback:
                    self._log.debug("redaction: the splice does not read what was hit, walking it")
                else:
                    # Counted as located: only what the hits point at was read.
                    self.audit.request(signal.value, LOCATED, items, tally)
                    if edited is None:  # false alarms: the original bytes go on, unparsed
                        return payload
                    out = Payload(signal, raw=edited)
                    out.truncated_values = payload.truncated_values
                    return out
            if not result.whole and len(result.hits) <= MAX_LOCATED_HITS:
                try:
                    located = locate(raw, result.hits)
                except WireError:
                    # The parse below raises MalformedPayload if the bytes are really broken.
                    self._log.debug("redaction: request outline not recognised, walking all of it")
        # Walk the parsed message in place, and mark it edited only if something changed:
        # false alarms keep the original bytes.
        request = payload.message
        tally: Tally = {}
        layout = LAYOUTS[signal]
        walked, outcome = 0, WHOLE
        if located is not None:
            try:
                walked = self.walker.walk_located(request, layout, located, tally)
                outcome = LOCATED
            except IndexError:  # the outline and the parse disagree: nothing was changed yet
                located = None
        if located is None:
            walked = self.walker.walk_all(request, layout, tally)
            outcome = WHOLE
        if tally:
            payload.edit()
        self.audit.request(signal.value, outcome, walked, tally)
        return payload
