"""Saga read models (written by ``sagas.projections``) and the lease table.

``SagaView``      one row per saga: the order it places and how it ended.
``SagaStepView``  one row per step execution, with timings: the saga log.
``SagaLease``     who is driving an unfinished saga, and until when. Not derived from
                  events and not rebuilt: it is coordination between live processes.
"""

import uuid

from django.db import models

from contracts.sagas import step_action

STEP_NAMESPACE = uuid.UUID("0b3c9a4e-2f51-4d7a-8a33-5c9d2e7f1b60")


def step_row_id(saga_id, seq: int) -> uuid.UUID:
    return uuid.uuid5(STEP_NAMESPACE, f"{saga_id}:{seq}")


class SagaView(models.Model):
    class Status(models.TextChoices):
        RUNNING = "RUNNING"
        COMPENSATING = "COMPENSATING"
        COMPLETED = "COMPLETED"
        COMPENSATED = "COMPENSATED"
        FAILED = "FAILED"

    saga_id = models.UUIDField(primary_key=True)
    order_id = models.UUIDField(unique=True)
    status = models.CharField(max_length=12, choices=Status.choices)
    reason = models.CharField(max_length=1000, blank=True, default="")
    customer_name = models.CharField(max_length=200)
    product_id = models.UUIDField()
    product_name = models.CharField(max_length=200)
    quantity = models.IntegerField()
    total_price = models.BigIntegerField()
    faults = models.JSONField(default=dict, blank=True)
    resumptions = models.IntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "sagas_saga"
        ordering = ["-created_at"]
        verbose_name = "saga"
        indexes = [
            models.Index(fields=["-created_at"], name="saga_newest"),
            models.Index(fields=["status", "-created_at"], name="saga_status_newest"),
        ]

    def __str__(self):
        return f"saga for order {self.order_id} ({self.status})"


class SagaStepView(models.Model):
    class Status(models.TextChoices):
        STARTED = "STARTED"
        COMPLETED = "COMPLETED"
        FAILED = "FAILED"

    id = models.UUIDField(primary_key=True)
    saga_id = models.UUIDField()
    seq = models.PositiveIntegerField()
    step = models.CharField(max_length=50)
    compensating = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices)
    message = models.CharField(max_length=1000, blank=True, default="")
    error = models.CharField(max_length=1000, blank=True, default="")
    attempts = models.IntegerField(default=0)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)

    class Meta:
        db_table = "sagas_step"
        ordering = ["saga_id", "seq"]
        verbose_name = "saga step"
        constraints = [models.UniqueConstraint(fields=["saga_id", "seq"], name="step_seq")]

    def __str__(self):
        return f"{self.seq}. {self.step} {self.status}"

    @property
    def action(self) -> str:
        return step_action(self.step, self.compensating)


# Both are fields named "status" in the API: the schema names their enums apart by these
# (SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] in config/settings.py).
SagaStatus = SagaView.Status
StepStatus = SagaStepView.Status


class SagaLease(models.Model):
    saga_id = models.UUIDField(primary_key=True)
    owner = models.CharField(max_length=200)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "sagas_lease"

    def __str__(self):
        return f"{self.saga_id} held by {self.owner} until {self.expires_at:%H:%M:%S}"
