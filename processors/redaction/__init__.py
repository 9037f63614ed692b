"""PII redaction for every signal: detectors with validators, blocked keys,
sanitisers, truncation, and a raw-bytes fast path (see README.md)."""
