"""gunicorn settings for the service (`gunicorn -c gunicorn.conf.py wsgi:app`).

Login pages long-poll for up to POLL_MAX_WAIT_SECONDS, so each waiting page
holds a request open. gevent workers hold thousands of those per process;
sync workers would hold one each and gthread only as many as it has threads.
"""
import datetime
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# Mistakes in this file's own settings, reported with the app's at start (see on_starting).
problems = []


def _whole(name, default, minimum=1):
    raw = os.environ.get(name) or str(default)
    if raw.isdigit() and int(raw) >= minimum:
        return int(raw)
    problems.append(f"{name} must be a whole number of at least {minimum}, got {raw!r}")
    return default


bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = _whole("WEB_CONCURRENCY", 2)
worker_class = os.environ.get("WORKER_CLASS", "gevent")
worker_connections = _whole("WORKER_CONNECTIONS", 12000)
# With gevent, `timeout` is only the worker heartbeat; long-polls are not cut by it.
timeout = 60
# On SIGTERM a worker answers its waiting polls at once (see post_worker_init)
# and then has this long to finish what is in flight.
graceful_timeout = 10
# Short: on a restart, idle keep-alive connections are what the worker waits out.
# Polling pages send their next request at once, so they never sit idle that long.
keepalive = 5
# Room for a burst of reconnects, e.g. every waiting page polling again after a restart.
backlog = 4096
accesslog = os.environ.get("ACCESS_LOG")  # e.g. "-" for stdout


class JsonLines(logging.Formatter):
    """gunicorn's own lines (start, workers, access log) as JSON, like the service's (app/logs.py)."""

    def format(self, record):
        line = {
            "ts": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


# The service logs JSON by default in production (LOG_FORMAT); gunicorn's lines follow it.
if (os.environ.get("LOG_FORMAT") or ("text" if os.environ.get("APP_ENV") == "development" else "json")) == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLines}},
        "handlers": {
            "error": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
            "access": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        },
        "root": {"level": "WARNING", "handlers": ["error"]},
    }

# On shutdown the waiting polls are answered over this many seconds (inside
# graceful_timeout), not all at once, so the pages come back spread out.
SHUTDOWN_SPREAD_SECONDS = float(os.environ.get("SHUTDOWN_SPREAD_SECONDS", "4"))


def _control_socket() -> str:
    """gunicorn's control socket (gunicornc), one per instance: by default gunicorn puts it at
    one path per user, so a second instance run by the same user would take it over."""
    if os.environ.get("CONTROL_SOCKET"):
        return os.environ["CONTROL_SOCKET"]
    instance = hashlib.sha256(f"{os.getcwd()}|{bind}".encode()).hexdigest()[:16]
    folder = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return os.path.join(folder, f"qrlogin-gunicorn-{instance}.ctl")


control_socket = _control_socket()


# --- the database pool ---------------------------------------------------------
# A gevent worker runs as many requests at once as arrive, so its real
# concurrency for database work is what the database allows: each worker gets an
# equal share of DB_MAX_CONNECTIONS (keep it under PostgreSQL's max_connections,
# 100 by default, minus what else connects). The app reads DB_POOL_SIZE.
if not os.environ.get("DB_POOL_SIZE"):
    _budget = _whole("DB_MAX_CONNECTIONS", 40)
    os.environ["DB_POOL_SIZE"] = str(max(2, _budget // max(workers, 1) - 1))  # -1: the worker's listener
# No preload: each worker builds its own app after the fork, so gevent's patching,
# database pools and the wake-up watcher all belong to that worker.
preload_app = False


def post_worker_init(worker):
    """On SIGTERM or SIGQUIT/SIGINT, answer every waiting long-poll within a few seconds.

    The pages get their current status and simply poll again, reaching a
    worker that is still running; nothing waits out the graceful timeout. The
    answers are spread over SHUTDOWN_SPREAD_SECONDS so a restart sends no wave.
    """
    import gevent  # the worker class is gevent's, already running (and patched) here

    from app import wakeups

    hub = wakeups.hub(worker.wsgi)

    def wrap(handler):
        def on_signal(sig, frame):
            # A signal handler must not block (gevent runs it as a loop callback), so the
            # waiting polls are answered from a greenlet of their own.
            gevent.spawn(hub.close, SHUTDOWN_SPREAD_SECONDS)
            handler(sig, frame)
        return on_signal

    signal.signal(signal.SIGTERM, wrap(worker.handle_exit))
    signal.signal(signal.SIGQUIT, wrap(worker.handle_quit))
    signal.signal(signal.SIGINT, wrap(worker.handle_quit))


def check_configuration():
    """Stop before any worker starts if the configuration is wrong: every mistake, one line each.

    The check runs in a process of its own (app.config.main): this master process
    stays free of the app's imports, which belong to the workers after gevent patches them.
    """
    for problem in problems:
        print(f"Configuration error: {problem}", file=sys.stderr)
    checked = subprocess.run([sys.executable, "-c", "import sys; from app.config import main; sys.exit(main())"], cwd=HERE)
    if problems or checked.returncode != 0:
        sys.stderr.flush()
        os._exit(1)  # a plain exit: no traceback, no "worker failed to boot" loop


# --- metrics across workers (see README "Deployment") --------------------------
# With PROMETHEUS_MULTIPROC_DIR set, each worker writes its metrics to files in
# that directory and /metrics adds them up. The files of a previous run are
# removed before the first worker starts; a dead worker's live gauges go with it.

def on_starting(server):
    check_configuration()
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
