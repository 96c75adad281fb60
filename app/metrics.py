"""Prometheus metrics of the service (served by app/ops at GET /metrics).

Ticket changes are counted by tickets.py after their transaction commits, so a
rolled-back change is never counted. Under gunicorn with several workers, set
PROMETHEUS_MULTIPROC_DIR (an empty directory, before the workers start): each
worker then writes its values there and /metrics adds them up across workers.
"""
import os
from contextlib import contextmanager

from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest, multiprocess)
from . import clock

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # the files are written from the first metric on
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

TICKETS_CREATED = Counter("qrlogin_tickets_created", "Login tickets (QR codes) created.")
TICKETS_FINISHED = Counter("qrlogin_tickets_finished", "Tickets that reached a final state, by outcome.",
                           ["outcome"])
SCANS = Counter("qrlogin_scans", "Login codes scanned by the mini-program.")
CONFIRMS = Counter("qrlogin_confirms", "Logins confirmed on the phone.")
LOGINS = Counter("qrlogin_logins", "Sign-ins: pc = a PC session started, mp = a mini-program token issued.",
                 ["kind"])
WAITING_POLLS = Gauge("qrlogin_waiting_polls", "Long-polls waiting for a change right now.",
                      multiprocess_mode="livesum")
WAKE_LATENCY = Histogram(
    "qrlogin_wake_latency_seconds", "From a committed ticket change to the waiting poll's answer.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
WAKEUPS_LOST = Counter(
    "qrlogin_wakeups_lost",
    "Cross-worker wake-ups given up on (the page then hears at the next periodic check). Should stay 0.")
WAKEUPS_RESENT = Counter(
    "qrlogin_wakeups_resent",
    "Cross-worker wake-ups sent again because the other worker's socket queue was full.")
ACCESS_REFUSED = Counter("qrlogin_access_refused", "Logins refused by the access policy, by stage and reason.",
                         ["stage", "reason"])
PHONE_CHECKS = Counter("qrlogin_phone_checks", "Phone-number verifications (paid WeChat calls), by result.",
                       ["result"])
WECHAT_CALLS = Counter("qrlogin_wechat_calls", "WeChat API calls by endpoint and result.", ["endpoint", "result"])
DATABASE_UNAVAILABLE = Counter("qrlogin_database_unavailable",
                               "Requests answered 503 because the database was unreachable, locked or full.")
RATELIMIT_FALLBACKS = Counter("qrlogin_ratelimit_storage_fallbacks",
                              "Times the rate-limit store (Redis) was unreachable and limits moved to this "
                              "process's memory.")
RATELIMIT_RECOVERIES = Counter("qrlogin_ratelimit_storage_recoveries",
                               "Times the rate-limit store came back and shared counting resumed.")
OA_PUSHES = Counter("qrlogin_oa_pushes", "Official Account pushes to the callback, by what became of them: "
                    "link, confirmed, expired, taken, finished, denied (a scan), retry (WeChat repeating one), "
                    "other (not a login scan), or the error code of a refused push.", ["outcome"])
WECHAT_SECONDS = Histogram("qrlogin_wechat_call_seconds", "Time WeChat took to answer, by endpoint.", ["endpoint"])

# ticket status reached -> what it counts
_ON_STATUS = {
    "pending": (TICKETS_CREATED,),
    "scanned": (SCANS,),
    "confirmed": (CONFIRMS,),
    "consumed": (TICKETS_FINISHED.labels("consumed"), LOGINS.labels("pc")),
    "cancelled": (TICKETS_FINISHED.labels("cancelled"),),
    "expired": (TICKETS_FINISHED.labels("expired"),),
    "denied": (TICKETS_FINISHED.labels("denied"),),
}
_WOKEN_BY = ("scanned", "confirmed", "cancelled", "denied")  # changes a person made, not a timer


def tickets_changed(statuses) -> None:
    """Count tickets that reached these statuses (called once their change committed)."""
    for status in statuses:
        for counter in _ON_STATUS.get(status, ()):
            counter.inc()


def mp_login() -> None:
    LOGINS.labels("mp").inc()


def access_refused(stage: str, reason: str) -> None:
    ACCESS_REFUSED.labels(stage, reason).inc()


def phone_check(result: str) -> None:
    PHONE_CHECKS.labels(result).inc()


@contextmanager
def waiting_poll():
    WAITING_POLLS.inc()
    try:
        yield
    finally:
        WAITING_POLLS.dec()


def poll_woken(ticket, since: str) -> None:
    """A waiting poll is about to answer: how long after the change did it learn of it?"""
    if ticket.status != since and ticket.status in _WOKEN_BY:
        WAKE_LATENCY.observe(max(0.0, (clock.utcnow() - ticket.updated_at).total_seconds()))


def wakeups_resent(count: int) -> None:
    WAKEUPS_RESENT.inc(count)


def wakeups_lost(count: int) -> None:
    WAKEUPS_LOST.inc(count)


def wechat_call(endpoint: str, result: str, seconds: float) -> None:
    WECHAT_CALLS.labels(endpoint, result).inc()
    WECHAT_SECONDS.labels(endpoint).observe(seconds)


def oa_push(outcome: str) -> None:
    """Count a push to the Official Account callback (after its transaction committed, or its refusal)."""
    OA_PUSHES.labels(outcome).inc()


def database_unavailable() -> None:
    DATABASE_UNAVAILABLE.inc()


def ratelimit_storage(up: bool) -> None:
    """The rate-limit store went away (False) or came back (True)."""
    (RATELIMIT_RECOVERIES if up else RATELIMIT_FALLBACKS).inc()


def exposition() -> tuple[bytes, str]:
    """The Prometheus text of this process, or of all workers in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST

