"""Work after a commit that must never turn a committed action into an error.

The action has already been written when an on-commit hook runs; if the hook raised, the request
would answer 500 and a client that retried would get a conflict. So every hook is logged and
swallowed here. What a failure skipped is repaired by design: handlers are idempotent by their
source keys and `handlers.replay()` or a periodic job (the outbox sweep) does the work again."""

import logging

from django.db import transaction

log = logging.getLogger("common.hooks")


def robust(fn, label):
    """`fn` wrapped so that an exception is logged with `label`, never raised."""

    def run():
        try:
            fn()
        except Exception:  # noqa: BLE001 — the commit is done; a failure here is repaired later
            log.exception("After-commit work failed: %s", label)

    return run


def on_commit(fn, label, using=None):
    """`transaction.on_commit`, robust: the hook's failure is logged and changes no answer."""
    transaction.on_commit(robust(fn, label), using=using)


def send_on_commit(signal, sender, **kwargs):
    """Send a domain signal once the transaction commits, to every receiver even if one fails
    (`send_robust`); each failing receiver is logged."""

    def send():
        for receiver, result in signal.send_robust(sender=sender, **kwargs):
            if isinstance(result, Exception):
                log.error("Receiver %r of %s failed: %r", receiver, kwargs, result,
                          exc_info=(type(result), result, result.__traceback__))

    transaction.on_commit(robust(send, f"signal {kwargs}"))


def enqueue_on_commit(task, *args, **kwargs):
    """Enqueue a Celery task after the commit; a broker that is down is logged, not raised (the
    periodic sweep that owns the work picks it up when the broker is back)."""
    on_commit(lambda: task.delay(*args, **kwargs), f"enqueue {getattr(task, 'name', task)}")
