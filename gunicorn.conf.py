"""gunicorn settings for the service (`gunicorn -c gunicorn.conf.py wsgi:app`).

Login pages long-poll for up to POLL_MAX_WAIT_SECONDS, so each waiting page
holds a request open. gevent workers hold thousands of those per process;
sync workers would hold one each and gthread only as many as it has threads.
"""
import os
import signal

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gevent"
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "12000"))
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
# No preload: each worker builds its own app after the fork, so gevent's patching,
# database pools and the wake-up watcher all belong to that worker.
preload_app = False


def post_worker_init(worker):
    """On SIGTERM or SIGQUIT/SIGINT, answer every waiting long-poll at once.

    The pages get their current status and simply poll again, reaching a
    worker that is still running; nothing waits out the graceful timeout.
    """
    import gevent  # the worker class is gevent's, already running (and patched) here

    from app import wakeups

    hub = wakeups.hub(worker.wsgi)

    def wrap(handler):
        def on_signal(sig, frame):
            # A signal handler must not block (gevent runs it as a loop callback), so the
            # waiting polls are answered from a greenlet of their own.
            gevent.spawn(hub.close)
            handler(sig, frame)
        return on_signal

    signal.signal(signal.SIGTERM, wrap(worker.handle_exit))
    signal.signal(signal.SIGQUIT, wrap(worker.handle_quit))
    signal.signal(signal.SIGINT, wrap(worker.handle_quit))


# --- metrics across workers (see README "Deployment") --------------------------
# With PROMETHEUS_MULTIPROC_DIR set, each worker writes its metrics to files in
# that directory and /metrics adds them up. The files of a previous run are
# removed before the first worker starts; a dead worker's live gauges go with it.

def on_starting(server):
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
