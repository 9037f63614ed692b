// Sends two traces, correlated logs of several severities, a counter and a
// histogram with the OpenTelemetry JS SDK over one OTLP protocol, and writes
// what each exporter handed to the wire (one request per line, encoded by the
// SDK's own serializer for that protocol) so the test can compare it with what
// arrived.
//
//   node send.js --protocol grpc|http/protobuf|http/json --endpoint URL --out FILE
//                --trace-ids HEX32,HEX32 [--run ID]
// The trace ids are given so the test knows which traces the log sampler keeps.
'use strict';

const fs = require('fs');
const { api, tracing, logs, metrics, resources, core } = require('@opentelemetry/sdk-node');
const { SeverityNumber } = require('@opentelemetry/api-logs');
const transformer = require('@opentelemetry/otlp-transformer');

const EXPORTERS = {
  grpc: {
    traces: () => new (require('@opentelemetry/exporter-trace-otlp-grpc').OTLPTraceExporter)(),
    logs: () => new (require('@opentelemetry/exporter-logs-otlp-grpc').OTLPLogExporter)(),
    metrics: () => new (require('@opentelemetry/exporter-metrics-otlp-grpc').OTLPMetricExporter)(),
  },
  'http/protobuf': {
    traces: () => new (require('@opentelemetry/exporter-trace-otlp-proto').OTLPTraceExporter)(),
    logs: () => new (require('@opentelemetry/exporter-logs-otlp-proto').OTLPLogExporter)(),
    metrics: () => new (require('@opentelemetry/exporter-metrics-otlp-proto').OTLPMetricExporter)(),
  },
  'http/json': {
    traces: () => new (require('@opentelemetry/exporter-trace-otlp-http').OTLPTraceExporter)(),
    logs: () => new (require('@opentelemetry/exporter-logs-otlp-http').OTLPLogExporter)(),
    metrics: () => new (require('@opentelemetry/exporter-metrics-otlp-http').OTLPMetricExporter)(),
  },
};

function args() {
  const out = { run: 'js' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const k of ['protocol', 'endpoint', 'out', 'trace-ids']) {
    if (!out[k]) throw new Error(`--${k} is required`);
  }
  if (!EXPORTERS[out.protocol]) throw new Error(`unknown --protocol ${out.protocol}`);
  return out;
}

// Appends what the wrapped exporter exports, encoded by the serializer its protocol uses
// (so the record is the bytes on the wire: JS numbers past 2^53 differ between the two), then hands it on.
function recording(signal, inner, protocol, out) {
  const kind = { traces: 'Trace', logs: 'Logs', metrics: 'Metrics' }[signal];
  const json = protocol === 'http/json';
  const serializer = transformer[`${json ? 'Json' : 'Protobuf'}${kind}Serializer`];
  const record = (items) => {
    const bytes = Buffer.from(serializer.serializeRequest(items));
    const entry = json ? { signal, json: bytes.toString('utf8') } : { signal, protobuf: bytes.toString('base64') };
    fs.appendFileSync(out, JSON.stringify(entry) + '\n');
  };
  const wrapper = {
    export(items, done) {
      record(items);
      inner.export(items, (result) => {
        if (result.code !== core.ExportResultCode.SUCCESS) {
          process.stderr.write(`${signal} export failed: ${result.error}\n`);
          process.exitCode = 1;
        }
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => (inner.forceFlush ? inner.forceFlush() : Promise.resolve()),
  };
  if (inner.selectAggregationTemporality) wrapper.selectAggregationTemporality = (t) => inner.selectAggregationTemporality(t);
  if (inner.selectAggregation) wrapper.selectAggregation = (t) => inner.selectAggregation(t);
  return wrapper;
}

// A trace state on every root span, set where the SDK sets one: by the sampler.
const sampler = {
  shouldSample: () => ({
    decision: tracing.SamplingDecision.RECORD_AND_SAMPLED,
    traceState: new core.TraceState('interop=js,vendor=a1'),
  }),
  toString: () => 'InteropSampler',
};

async function main() {
  const a = args();
  const traceIds = a['trace-ids'].split(',');
  const base = a.endpoint.replace(/\/$/, '');
  for (const [signal, path] of [['TRACES', 'traces'], ['LOGS', 'logs'], ['METRICS', 'metrics']]) {
    process.env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`] = a.protocol === 'grpc' ? base : `${base}/v1/${path}`;
  }
  const resource = resources.resourceFromAttributes(
    { 'service.name': 'interop-js', 'service.version': '1.2.3', 'interop.run': a.run, 'deployment.environment.name': 'test' },
    { schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' },
  );
  const make = EXPORTERS[a.protocol];
  const idGenerator = {
    generateTraceId: () => traceIds.shift(),
    generateSpanId: () => new tracing.RandomIdGenerator().generateSpanId(),
  };
  const tracerProvider = new tracing.BasicTracerProvider({
    resource, sampler, idGenerator,
    spanProcessors: [new tracing.BatchSpanProcessor(recording('traces', make.traces(), a.protocol, a.out))],
  });
  const loggerProvider = new logs.LoggerProvider({
    resource,
    processors: [new logs.BatchLogRecordProcessor({ exporter: recording('logs', make.logs(), a.protocol, a.out) })],
  });
  const reader = new metrics.PeriodicExportingMetricReader({
    exporter: recording('metrics', make.metrics(), a.protocol, a.out),
    exportIntervalMillis: 3600000,
  });
  const meterProvider = new metrics.MeterProvider({ resource, readers: [reader] });

  const scope = { schemaUrl: 'https://opentelemetry.io/schemas/1.29.0' };
  const tracer = tracerProvider.getTracer('interop.js.tracer', '0.1.0', scope);
  const logger = loggerProvider.getLogger('interop.js.logger', '0.2.0', scope);
  const meter = meterProvider.getMeter('interop.js.meter', '0.3.0', scope);

  const attributes = {
    'str.unicode': 'héllo wörld ✓ 日本語 🚀',
    'int.big': 2 ** 62,
    'int.negative': -42,
    'double.pi': 3.14159,
    'bool.true': true,
    'bool.false': false,
    'array.str': ['a', 'ß', '✓'],
    'array.int': [1, 2, 3],
    'array.double': [1.5, -2.25],
    'array.bool': [true, false],
    'user.email': 'alice@example.org',
    'user.password': 'hunter2',
  };
  const linked = { traceId: 'abcdef0123456789abcdef0123456789', spanId: '0123456789abcdef', traceFlags: 1,
    traceState: new core.TraceState('linked=yes') };

  const t0 = Date.now() - 1000;
  const parent = tracer.startSpan('interop parent', {
    kind: api.SpanKind.SERVER, attributes, startTime: t0,
    links: [{ context: linked, attributes: { 'link.kind': 'follows', 'link.n': 7 } }],
  });
  const parentCtx = api.trace.setSpan(api.context.active(), parent);
  const child = tracer.startSpan('interop child ✓', { kind: api.SpanKind.CLIENT, startTime: t0 + 100,
    attributes: { 'peer.service': 'db', 'int.big': 2 ** 62 } }, parentCtx);
  child.addEvent('cache miss', { 'event.key': 'k1', 'event.size': 12, 'user.email': 'bob@example.org' }, t0 + 150);
  child.setStatus({ code: api.SpanStatusCode.ERROR, message: 'boom: ünïcode' });
  const childCtx = api.trace.setSpan(parentCtx, child);
  logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: 'handled request ✓',
    attributes: { 'log.seq': 1, 'user.email': 'alice@example.org' }, context: childCtx, timestamp: t0 + 160 });
  logger.emit({ severityNumber: SeverityNumber.WARN, severityText: 'WARN', body: 'slow downstream',
    attributes: { 'log.seq': 2, 'int.big': 2 ** 62 }, context: childCtx, timestamp: t0 + 170 });
  logger.emit({ severityNumber: SeverityNumber.ERROR, severityText: 'ERROR', body: { message: 'failed', code: 503, tags: ['a', 'b'] },
    attributes: { 'log.seq': 3 }, context: parentCtx, timestamp: t0 + 180, eventName: 'interop.failure' });
  logger.emit({ severityNumber: SeverityNumber.DEBUG, severityText: 'DEBUG', body: 'debug detail',
    attributes: { 'log.seq': 4 }, context: parentCtx, timestamp: t0 + 190 });
  child.end(t0 + 200);
  parent.setStatus({ code: api.SpanStatusCode.OK });
  parent.end(t0 + 300);

  // A second trace whose INFO record the sampler drops (its trace id is below the threshold).
  const other = tracer.startSpan('interop other', { kind: api.SpanKind.INTERNAL, startTime: t0 + 400 });
  const otherCtx = api.trace.setSpan(api.context.active(), other);
  logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: 'sampled away',
    attributes: { 'log.seq': 5 }, context: otherCtx, timestamp: t0 + 410 });
  logger.emit({ severityNumber: SeverityNumber.ERROR, severityText: 'ERROR', body: 'kept whatever the trace',
    attributes: { 'log.seq': 6 }, context: otherCtx, timestamp: t0 + 420 });
  other.end(t0 + 500);

  const counter = meter.createCounter('interop.requests', { description: 'requests handled', unit: '{request}' });
  counter.add(3, { route: '/a', 'user.email': 'alice@example.org' });
  counter.add(2, { route: '/b' });
  const histogram = meter.createHistogram('interop.latency', { description: 'request latency', unit: 'ms' });
  for (const v of [1.5, 7, 42, 250]) histogram.record(v, { route: '/a' });

  await tracerProvider.forceFlush();
  await loggerProvider.forceFlush();
  // Shutting the meter provider down collects and exports once (a flush first would export twice).
  await Promise.all([tracerProvider.shutdown(), loggerProvider.shutdown(), meterProvider.shutdown()]);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(2);
});
