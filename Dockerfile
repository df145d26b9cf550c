FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ONRAMP_VAR_DIR=/var/lib/onramp
WORKDIR /app
COPY pyproject.toml ./
COPY config config
COPY tenants tenants
COPY wizard wizard
COPY observability observability
RUN pip install --no-cache-dir .
COPY manage.py ./
COPY templates templates
# The compiled translations (LOCALE_PATHS): committed, so the image needs no gettext.
COPY locale locale
COPY static static
RUN mkdir -p /var/lib/onramp && python manage.py collectstatic --noinput
RUN useradd --system --home /var/lib/onramp onramp && chown -R onramp /var/lib/onramp
USER onramp
EXPOSE 8000
# Ready, not just up: the database and the broker answer and a worker beat recently (/readyz). docker-compose.yml
# gives the worker and beat containers, which serve no HTTP, checks of their own.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=5 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=3)"]
# gthread: a worker keeps telling the master it is alive while its threads serve, so a long streamed download (an
# organisation's million-event timeline export) is not killed at the 30 s worker timeout as a sync worker's is.
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "gthread", "--threads", "4", "--access-logfile", "-"]
