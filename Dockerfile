# caseload-bot: one process, every route on one port.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

RUN useradd --create-home --uid 10001 caseload
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY policy ./policy
COPY storage ./storage
RUN pip install . && mkdir -p /app/var && chown caseload /app/var

USER caseload
ENV HOST=0.0.0.0 PORT=3978
EXPOSE 3978
ENTRYPOINT ["caseload-bot"]
CMD ["serve", "--migrate"]
