"""Standalone mode: the parts of the OpenTelemetry Collector that the Python
pipeline replicates so it can run without ``otelcol`` (the embedded default
where Go is absent): the OTLP/HTTP transport of the ``otlp`` receiver, the
OTLP/JSON codec, and the ``file`` and ``prometheus`` exporters. Configs name
these components exactly as the Collector does; nothing in the core pipeline
depends on them beyond the ``otlp`` receiver's optional ``http:`` protocol."""
