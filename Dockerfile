# syntax=docker/dockerfile:1
# Two images from one file, both multi-stage, non-root and with a HEALTHCHECK:
#   docker build --target processors -t otelpipe/processors .   otelproc serve (gRPC health probe)
#   docker build --target services   -t otelpipe/services .     one seed service per container,
#                                                               chosen by the first argument (ingest|session|divan)
# The base image is pinned by tag and digest (docker/README.md says how to move it).
ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm@sha256:b18992999dbe963a45a8a4da40ac2b1975be1a776d939d098c647482bcad5cba

# --- build: wheels and dependencies into /opt/venv (compilers and pip caches stay in this stage) ---
FROM ${PYTHON_IMAGE} AS build-base
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY processors/ processors/
COPY services/ services/

FROM build-base AS build-processors
# The installed distribution carries the component entry points (otelproc.receivers, ...).
RUN /opt/venv/bin/pip install --no-cache-dir .

FROM build-base AS build-services
RUN /opt/venv/bin/pip install --no-cache-dir '.[services]'

# --- runtime: the venv, the sources (Alembic migrations and alembic.ini are files, not modules), no build tools ---
FROM ${PYTHON_IMAGE} AS runtime-base
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 otelpipe \
    && useradd --system --uid 10001 --gid otelpipe --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin otelpipe
WORKDIR /app
COPY docker/healthcheck.py docker/serve_service.py /app/docker/

FROM runtime-base AS processors
COPY --from=build-processors /opt/venv /opt/venv
COPY processors/ /app/processors/
USER 10001:10001
# 24317 OTLP gRPC from the Collector, 8890 session-health API, 8898 self-metrics.
EXPOSE 24317 8890 8898
# grpc.health.v1 Check on the OTLP port: SERVING once the pipelines are built, NOT_SERVING while draining.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py", "grpc"]
ENTRYPOINT ["python", "-m", "processors.cli", "serve"]
CMD ["--config", "/app/processors/configs/pipeline.yaml"]

FROM runtime-base AS services
COPY --from=build-services /opt/venv /opt/venv
COPY services/ /app/services/
USER 10001:10001
EXPOSE 8001 8002 8003
# GET /health/ready on $PORT: 200 when the service's Redis and database answer within budget.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py", "http"]
ENTRYPOINT ["python", "/app/docker/serve_service.py"]
