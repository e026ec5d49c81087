"""Celery tasks of the incentives app: thin, idempotent, safe to retry."""

import logging

from celery import shared_task

from . import services

log = logging.getLogger(__name__)


@shared_task(autoretry_for=(Exception,), retry_backoff=60, max_retries=3)
def reconcile_points():
    """Monthly proof that every balance equals the sum of its entries; differences are logged."""
    differences = services.reconcile_points()
    for d in differences:
        log.error("Points account %(account)s (%(user)s): balance %(balance)s, entries sum to %(entries)s", d)
    return {"differences": len(differences)}
