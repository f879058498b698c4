"""gunicorn settings shared by the Procfile and `make run` (`gunicorn -c gunicorn_conf.py wsgi:app`).

Threaded workers keep a long export from holding a whole process; the access log leaves out the
client's address, which the service never stores or logs in the clear."""

import os

bind = f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '5000')}"  # noqa: S104
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = 4
timeout = 600
graceful_timeout = 10
accesslog = "-"
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
