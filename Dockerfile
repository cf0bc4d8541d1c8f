# One image for every service and worker; the compose service's command picks the role.
#
#   docker build -t ec-microservices .
#   docker run --rm ec-microservices   # prints the roles

# --- 1. the web UI --------------------------------------------------------------------------
FROM node:20-bookworm-slim AS ui
WORKDIR /ui
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# --- 2. the Python runtime ------------------------------------------------------------------
FROM python:3.12-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STATIC_ROOT=/tmp/static \
    FRONTEND_DIST=/app/frontend/dist
WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY eventkit/ eventkit/
COPY servicekit/ servicekit/
COPY contracts/ contracts/
RUN pip install . && useradd --create-home --uid 10001 app

COPY manage_all.py ./
COPY order_service/ order_service/
COPY inventory_service/ inventory_service/
COPY saga_service/ saga_service/
COPY marketing_service/ marketing_service/
COPY bff_service/ bff_service/
COPY --from=ui /ui/dist frontend/dist

# No secrets here: SECRET_KEY, SERVICE_TOKEN and the database URLs come from the environment.
USER app
CMD ["python", "-c", "print('Run a role: see compose.yaml (gunicorn ... | python manage.py publish_events | consume_events | resume_sagas --watch)')"]
