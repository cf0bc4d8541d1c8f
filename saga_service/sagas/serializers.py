"""Input and output shapes of the saga API."""

from rest_framework import serializers

from contracts.sagas import FAULT_MODES
from sagas.definition import STEP_NAMES
from sagas.models import SagaStepView, SagaView
from servicekit.api import CommandInput, PageQuery
from servicekit.fields import IdField, NameField, QuantityField, YenField


class FaultsField(serializers.DictField):
    """``{"ReserveInventory": "fail"}``: which step misbehaves, and how (SAGA_FAULTS=1 only).

    ``fail``: the step is refused, as a participant would refuse it. ``timeout``: every
    attempt times out until the deadline, so the outcome is unknown. ``crash_after``: the
    saga process exits right after the step succeeds, before recording it.
    """

    child = serializers.ChoiceField(choices=FAULT_MODES)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        unknown = set(value) - set(STEP_NAMES)
        if unknown:
            raise serializers.ValidationError(
                f"unknown step(s) {sorted(unknown)}; steps are {list(STEP_NAMES)}"
            )
        return value


class PlaceOrderInput(CommandInput):
    order_id = IdField(
        required=False,
        help_text="Client-chosen; the same id again answers with that saga. Without it, an "
        "Idempotency-Key names the order; without either, a new one.",
    )
    customer_name = NameField()
    product_id = IdField()
    quantity = QuantityField()
    product_name = NameField(
        required=False, help_text="Taken as given (callers are trusted); from inventory if absent."
    )
    total_price = YenField(
        required=False,
        help_text="Taken as given (callers are trusted); price x quantity if absent.",
    )
    faults = FaultsField(required=False, help_text=FaultsField.__doc__)


class SagaStepSerializer(serializers.Serializer):
    step = serializers.IntegerField(help_text="1-based position in the log")
    action = serializers.CharField(help_text='e.g. "CreateOrder", "CancelOrder (COMPENSATING)"')
    status = serializers.ChoiceField(choices=SagaStepView.Status.choices)
    error = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    compensating = serializers.BooleanField()
    attempts = serializers.IntegerField()
    timestamp = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.FloatField(allow_null=True)


class SagaOutcomeSerializer(serializers.Serializer):
    order_id = serializers.UUIDField()
    saga_id = serializers.UUIDField()
    success = serializers.BooleanField()
    status = serializers.ChoiceField(choices=SagaView.Status.choices)
    reason = serializers.CharField(allow_null=True)
    customer_name = serializers.CharField()
    product_id = serializers.UUIDField()
    product_name = serializers.CharField()
    quantity = serializers.IntegerField()
    total_price = serializers.IntegerField()
    resumed = serializers.BooleanField()
    resumptions = serializers.IntegerField(help_text="times another process took it over")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    saga_log = SagaStepSerializer(many=True)


class SagaListItemSerializer(SagaOutcomeSerializer):
    """A saga in the list: its answer, and when it last changed."""

    updated_at = serializers.DateTimeField()


class SagaQuery(PageQuery):
    status = serializers.ChoiceField(choices=SagaView.Status.choices, required=False)
