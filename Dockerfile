# syntax=docker/dockerfile:1
# One image for every Scoreboard process; the first argument picks it (see deploy/entrypoint.sh):
#   docker run IMAGE scoreboard-api | scoreboard-worker | scoreboard-sse | scoreboard-topics
# Build: docker build -t scoreboard:dev .      (the compose file and k8s/ use this image)

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- build: install the project and its pinned dependencies (all wheels) into a virtualenv ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
RUN pip install --no-cache-dir pip==25.3
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY producer_api ./producer_api
COPY stream_app ./stream_app
COPY sse_server ./sse_server
RUN pip install --no-cache-dir --prefer-binary .

# ---- runtime: the virtualenv, a non-root user, nothing else ----
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="scoreboard" \
      org.opencontainers.image.description="Kafka-native real-time leaderboard: write API, stream worker, SSE read API"
RUN groupadd --system --gid 10001 scoreboard \
    && useradd --system --uid 10001 --gid scoreboard --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin scoreboard \
    && mkdir -p /var/lib/scoreboard /srv/scoreboard \
    && chown scoreboard:scoreboard /var/lib/scoreboard
COPY --from=build /opt/venv /opt/venv
COPY --chmod=0755 deploy/entrypoint.sh /usr/local/bin/scoreboard-entrypoint
COPY --chmod=0755 deploy/healthcheck.py /usr/local/bin/scoreboard-healthcheck
COPY --chmod=0644 deploy/actions.yaml /etc/scoreboard/actions.yaml
# Containers listen on every interface; SCOREBOARD_ENV=prod refuses insecure defaults (no API key, ...).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SCOREBOARD_ENV=prod \
    SCOREBOARD_API_HOST=0.0.0.0 \
    SCOREBOARD_SSE_HOST=0.0.0.0 \
    SCOREBOARD_WORKER_WEB_HOST=0.0.0.0 \
    SCOREBOARD_DATA_DIR=/var/lib/scoreboard \
    SCOREBOARD_ACTIONS_FILE=/etc/scoreboard/actions.yaml
WORKDIR /srv/scoreboard
USER 10001:10001
EXPOSE 8000 8001 6066
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 CMD ["scoreboard-healthcheck"]
ENTRYPOINT ["scoreboard-entrypoint"]
CMD ["scoreboard-api"]
