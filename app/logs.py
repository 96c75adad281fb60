"""Logs: one line per request, JSON (LOG_FORMAT=json, the production default) or text.

Each request gets an id: a well-formed incoming X-Request-ID (set by the proxy)
or a new random one. It is echoed in the response's X-Request-ID and added to
every log line written while the request runs. Ticket ids are logged only as a
short prefix, enough to follow one login through the logs and useless to anyone
who reads them.
"""
import json
import logging
import re
import secrets
import time

from flask import Flask, g, has_request_context, request
from flask.logging import default_handler

from . import clock

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
TICKET_PREFIX_LENGTH = 6
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

request_log = logging.getLogger("app.requests")


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (or "-" outside requests)."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's `fields`."""

    def format(self, record):
        line = {
            "ts": clock.utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__(TEXT_FORMAT)

    def format(self, record):
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return text


def configure(app: Flask) -> None:
    """Send the service's loggers ("app" and below) to stderr in the configured format."""
    logger = logging.getLogger("app")  # Flask's app.logger: the package is named "app"
    for handler in list(logger.handlers):
        if handler is default_handler or getattr(handler, "qrlogin", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.qrlogin = True
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if app.config["LOG_FORMAT"] == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # one line per event, not another copy from the root logger

    app.before_request(_start)
    app.after_request(_finish)


def _start():
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _VALID_REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)
    g.request_started = time.perf_counter()


def _finish(response):
    request_id = g.get("request_id") or secrets.token_hex(16)
    response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
    request_log.info("request", extra={"fields": {
        "method": request.method,
        "path": loggable_path(),
        "status": response.status_code,
        "duration_ms": duration_ms,
    }})
    return response


def loggable_path() -> str:
    """The request path with any ticket id cut to a short prefix."""
    path = request.path
    ticket_id = (request.view_args or {}).get("ticket_id")
    if ticket_id and len(ticket_id) > TICKET_PREFIX_LENGTH:
        path = path.replace(ticket_id, ticket_id[:TICKET_PREFIX_LENGTH] + "...")
    return path[:256]
