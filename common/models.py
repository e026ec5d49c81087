"""The framework's own tables: the record of every periodic job's runs, and the append-only base."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class AppendOnly(models.Model):
    """Rows written once and never edited or deleted one by one: a mistake is corrected by a new,
    reversing row (points, money, the ledger's events, the change log)."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError(f"{type(self).__name__} is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError(f"{type(self).__name__} is append-only.")


class JobRun(models.Model):
    """One run of a periodic job (beat, command or admin button): what it did or why it failed.

    `job` names an entry of `common.jobs` (its label comes from there); `node_id` is the place it ran
    for (a grid node, or none for every street), kept as a plain id so this table sits below grid."""

    class Outcome(models.TextChoices):
        RUNNING = "running", _("running")
        OK = "ok", pgettext_lazy("job outcome", "done")
        FAILED = "failed", pgettext_lazy("job outcome", "failed")

    job = models.CharField(_("job"), max_length=40)
    month = models.CharField(_("month"), max_length=7, blank=True)  # monthly jobs only
    node_id = models.BigIntegerField(_("node"), null=True, blank=True)
    node_name = models.CharField(_("place"), max_length=100, blank=True)
    trigger = models.CharField(_("started by"), max_length=30)  # beat, command, admin:<username>
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.RUNNING)
    result = models.JSONField(_("result"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempt = models.PositiveSmallIntegerField(_("attempt"), default=1)

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        ordering = ["-started_at", "-id"]
        permissions = [("run_jobs", _("Can start a job"))]
        indexes = [models.Index(fields=["job", "-started_at"])]

    def __str__(self):
        return f"{self.job_label} {self.month} {self.get_outcome_display()}".replace("  ", " ")

    @property
    def job_label(self):
        from .jobs import JOBS

        spec = JOBS.get(self.job)
        return str(spec.label) if spec else self.job
