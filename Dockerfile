# surveybot: a small image that runs as an unprivileged user.
#   docker build -t surveybot .
#   docker run -d --name surveybot --env-file .env -v surveybot-data:/data surveybot
# With PostgreSQL: docker compose up -d (compose.yaml). See README, "Deployment".

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY survey survey
COPY storage storage
COPY analytics analytics
COPY bot bot
RUN python -m venv /opt/surveybot \
 && /opt/surveybot/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --home-dir /data --create-home surveybot
COPY --from=build /opt/surveybot /opt/surveybot
ENV PATH=/opt/surveybot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite+aiosqlite:////data/surveybot.db
USER surveybot
WORKDIR /data
VOLUME ["/data"]
# SIGINT is what the bot handles for a clean stop (the same as Ctrl+C).
STOPSIGNAL SIGINT
ENTRYPOINT ["surveybot"]
CMD ["run"]
