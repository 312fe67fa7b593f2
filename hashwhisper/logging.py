"""Log filtering that keeps request paths and query strings out of the logs.

An invitation's secret travels in the URL fragment, which browsers never
send; but some QR readers turn ``#`` into ``%23``, which moves the secret into
the path. Django's request and security loggers print the path of every
refused request, so their records are rewritten to carry only a status.
"""

import logging

_PATH_BEARING = ("django.request", "django.security", "django.server")


class RedactRequestFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(_PATH_BEARING):
            status = getattr(record, "status_code", None)
            record.msg = "%s refused a request (status %s)"
            record.args = (record.name, status if status is not None else "-")
            # The request object would let a formatter print the path again.
            if hasattr(record, "request"):
                record.request = None
            if record.name.startswith("django.security"):
                # A refused request (a forged Host header, say) is expected
                # traffic: its traceback would only repeat what the client
                # sent, so the line stays one line.
                record.exc_info = None
                record.exc_text = None
        return True
