"""Python OTLP processors: a gRPC server that runs pipelines of processors
between the OpenTelemetry Collector's loadbalancing exporter and its
``otlp/processed`` receiver (or, in standalone mode, straight from services)."""
