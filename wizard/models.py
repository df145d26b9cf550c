from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Tenant


class StepStatus(models.TextChoices):
    NOT_STARTED = "not_started", _("Not started")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    WAITING = "waiting", _("Waiting on Microsoft")
    NEEDS_INPUT = "needs_input", _("Needs your input")
    SUCCEEDED = "succeeded", _("Done")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")
    INTERRUPTED = "interrupted", _("Interrupted")


ACTIVE_STATUSES = (StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.WAITING)
FINISHED_STATUSES = (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
# A step's bulky JSON (an upload of up to 50,000 rows, its preview): loaded only when a caller reads it.
PAYLOAD_FIELDS = ("inputs", "result", "error_detail")


class StepState(models.Model):
    """Where one tenant stands on one step. Only wizard.engine changes `status`."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="step_states")
    step_id = models.CharField(max_length=40)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.NOT_STARTED)
    inputs = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=120, blank=True)
    error_message = models.TextField(blank=True)
    # Plain-words explanation, the fix, Microsoft's request id: what the error panel shows.
    error_detail = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Times the watchdog re-queued this run after its worker died; a person's run, retry or resume resets it.
    auto_resumes = models.PositiveSmallIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    progress_message = models.CharField(max_length=300, blank=True)
    waiting_for = models.CharField(max_length=300, blank=True)
    waiting_since = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The steps queued one after another once this one succeeds (wizard.engine), so one request runs a chain: new
    # rooms placed from the page reach the scope, are verified and activated without another click.
    then_steps = models.JSONField(default=list, blank=True)
    # This run re-checks a step that had succeeded: only its check runs, never its service, even when the run's
    # message is sent again or the watchdog resumes it.
    verify_only = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # By the organisation's id, not "tenant": that would sort by the organisation's own ordering, through a join
        # to the tenants table, on every query of one organisation's steps that sets no order.
        ordering = ["tenant_id", "position"]
        constraints = [models.UniqueConstraint(fields=["tenant", "step_id"], name="one_state_per_step")]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"]),
            # The support console's filters (failed, waiting, running): which organisations have a step in a status,
            # read from the index alone (100,000 organisations: bench/console.py).
            models.Index(fields=["status", "tenant"], name="stepstate_status_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.step_id}: {self.status}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class MembershipStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    MEMBER = "member", _("In a room list")
    FAILED = "failed", _("Failed")


class VerificationStatus(models.TextChoices):
    UNKNOWN = "unknown", _("Not verified")
    PASS = "pass", _("Pass")
    FAIL = "fail", _("Fail")


class Room(models.Model):
    """A room or equipment mailbox chosen for the integration, and what Onramp did with it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="rooms")
    address = models.EmailField(max_length=320)
    display_name = models.CharField(max_length=256, blank=True)
    room_list = models.CharField(max_length=256, blank=True)
    membership_status = models.CharField(
        max_length=16, choices=MembershipStatus.choices, default=MembershipStatus.PENDING
    )
    verification_status = models.CharField(
        max_length=16, choices=VerificationStatus.choices, default=VerificationStatus.UNKNOWN
    )
    reason = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant_id", "address"]  # as StepState's: no join to sort one organisation's rooms
        constraints = [models.UniqueConstraint(fields=["tenant", "address"], name="one_row_per_room")]

    def __str__(self) -> str:
        return self.address


class AuditEvent(models.Model):
    """Append-only: who did what to which tenant, and how it went."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.CharField(max_length=150)
    step_id = models.CharField(max_length=40, blank=True)
    action = models.CharField(max_length=60)
    outcome = models.CharField(max_length=30)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.outcome}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("Audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only")


class DriftCheckStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Could not run")


class DriftCheck(models.Model):
    """One re-check of an activated organisation against Microsoft (wizard.drift): when it is due, and
    what it found. `findings` is a list of {kind, summary, addresses, fix}; empty when nothing drifted."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="drift_checks")
    status = models.CharField(max_length=16, choices=DriftCheckStatus.choices, default=DriftCheckStatus.SCHEDULED)
    requested_by = models.CharField(max_length=150)
    due_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    findings = models.JSONField(default=list, blank=True)
    # Whether `findings` holds anything, stored for the support console's "Drifted" filter.
    drifted = models.BooleanField(default=False)
    # What the check could not look at, each with why (like the verify step's checks that did not run): a check
    # that skipped something never reads as a clean bill.
    not_checked = models.JSONField(default=list, blank=True)
    error_message = models.TextField(blank=True)
    # The run that may record this check: sent with its task, it starts once (`heartbeat_at` is then set) and writes
    # the outcome only while it still holds the claim, so a redelivered message or a run that was taken over
    # records nothing (wizard.drift).
    claim = models.CharField(max_length=36, blank=True)
    # Refreshed by the running check every ONRAMP_HEARTBEAT_SECONDS; empty until a worker starts the claim.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # How many times the watchdog gave the check to another worker after its worker stopped beating.
    takeovers = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-due_at", "-id"]
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["tenant", "-due_at"]),
            # The support console's Drifted filter starts from the organisations that ever drifted.
            models.Index(fields=["tenant"], condition=models.Q(drifted=True), name="driftcheck_drifted"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant.slug} drift check {self.due_at:%Y-%m-%d %H:%M}: {self.status}"
