# chatsite: a slim image served by uvicorn, running as an unprivileged user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN groupadd --system chatsite \
 && useradd --system --gid chatsite --home-dir /app --shell /usr/sbin/nologin chatsite

# Dependencies first, so code changes reuse this layer.
COPY pyproject.toml README.md ./
COPY chatsite/__init__.py chatsite/__init__.py
COPY conversations/__init__.py conversations/__init__.py
RUN pip install .

COPY . .
# Run from the source tree (templates/ and static/ live beside the packages).
RUN pip install --no-deps -e . \
 && DEBUG=false SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost \
    CHATSITE_DATA_DIR=/tmp/build-data python manage.py collectstatic --noinput \
 && mkdir -p /data && chown chatsite:chatsite /data

# uvicorn trusts X-Forwarded-* only from these addresses (set it to your proxy's).
ENV DEBUG=false \
    CHATSITE_DATA_DIR=/data \
    FORWARDED_ALLOW_IPS=127.0.0.1
USER chatsite
VOLUME ["/data"]
EXPOSE 8000

# Migrations are idempotent; run them, mark replies orphaned by the last stop as interrupted,
# then hand PID 1 to uvicorn.
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py sweep_generations && exec uvicorn chatsite.asgi:application --host 0.0.0.0 --port 8000 --proxy-headers"]
