"""Where long-polls wait, and what wakes them.

A poll waits on an in-process event keyed by ticket id. A change committed in
this process wakes it directly (tickets._notify_after_commit). A change
committed by another process is found by one watcher per process, which looks
for recently updated tickets every WAKE_CHECK_SECONDS while anything waits: one
indexed query per interval, however many polls are waiting.
"""
import logging
import os
import threading
import time
from datetime import timedelta

from . import clock
from .extensions import db

log = logging.getLogger(__name__)

# A transaction stamps updated_at before it commits, so a watcher's query can
# run between the two; looking back this far catches such late commits.
COMMIT_OVERLAP = timedelta(seconds=2)


class Waiters:
    def __init__(self, app):
        self.app = app
        self.check_seconds = app.config["WAKE_CHECK_SECONDS"]
        self._lock = threading.Lock()
        self._events: dict[str, set[threading.Event]] = {}
        self._watcher_pid = None
        self._closing = False

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def waiting(self) -> int:
        with self._lock:
            return sum(len(events) for events in self._events.values())

    def wait(self, ticket_id: str, timeout: float) -> bool:
        """Block up to `timeout` seconds; True when woken by a change."""
        if self._closing or timeout <= 0:
            return False
        event = threading.Event()
        with self._lock:
            self._events.setdefault(ticket_id, set()).add(event)
            self._ensure_watcher()
        try:
            return event.wait(timeout)
        finally:
            with self._lock:
                events = self._events.get(ticket_id)
                if events is not None:
                    events.discard(event)
                    if not events:
                        del self._events[ticket_id]

    def notify(self, ticket_ids) -> None:
        with self._lock:
            events = [e for tid in ticket_ids for e in self._events.get(tid, ())]
        for event in events:
            event.set()

    def close(self) -> None:
        """Answer every waiting poll now (the server is stopping); later waits return at once."""
        self._closing = True
        with self._lock:
            events = [e for group in self._events.values() for e in group]
        for event in events:
            event.set()

    def _ensure_watcher(self) -> None:
        # Started lazily so that it runs in the worker process, after any fork.
        if self._watcher_pid == os.getpid():
            return
        self._watcher_pid = os.getpid()
        threading.Thread(target=self._watch, name="qrlogin-watcher", daemon=True).start()

    def _watch(self) -> None:
        from . import tickets

        seen: dict[str, object] = {}
        cursor = clock.utcnow() - COMMIT_OVERLAP
        while not self._closing:
            time.sleep(self.check_seconds)
            with self._lock:
                if not self._events:
                    continue
            started = clock.utcnow()
            try:
                with self.app.app_context():
                    try:
                        rows = tickets.changed_since(cursor)
                    finally:
                        db.session.remove()
            except Exception:  # a database hiccup must not kill the watcher
                log.exception("wake-up check failed; retrying")
                continue
            fresh = [tid for tid, updated in rows if seen.get(tid) != updated]
            for tid, updated in rows:
                seen[tid] = updated
            cursor = started - COMMIT_OVERLAP
            seen = {tid: u for tid, u in seen.items() if u >= cursor}
            if fresh:
                self.notify(fresh)
