# caseload-bot: one process, every route on one port.
#
# Stage 1 builds the wheel (modules plus package data: policy presets, Alembic migrations,
# the Slack manifest); stage 2 installs only that wheel into a slim runtime, as a user
# that is not root. Build: docker build -t caseload-bot .
FROM python:3.12-slim AS build

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY policy ./policy
COPY storage ./storage
RUN pip wheel --no-deps --wheel-dir /wheels .


FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY --from=build /wheels /wheels
# The presets and migrations must have come with the wheel: the build fails here otherwise.
RUN pip install /wheels/*.whl \
    && rm -rf /wheels \
    && caseload-bot policy list >/dev/null \
    && python -c "from storage.migrate import head; head()" \
    && useradd --create-home --uid 10001 caseload \
    && mkdir -p /app/var \
    && chown caseload /app/var

USER caseload
WORKDIR /app
# LOG_FORMAT=json: one JSON object per line on stderr, for the log collector.
ENV HOST=0.0.0.0 PORT=3978 LOG_FORMAT=json
EXPOSE 3978
# Liveness only (the process answers); readiness, with the database, is GET /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '3978')}/healthz\", timeout=4)"]
ENTRYPOINT ["caseload-bot"]
CMD ["serve", "--migrate"]
