import os

from celery import Celery

from observability import worker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("onramp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Logs through Django's LOGGING with each task's id, task runtimes, the worker's beat for /readyz.
worker.connect(app)
