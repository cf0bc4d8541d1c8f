"""Input and output shapes of the inventory API."""

from rest_framework import serializers

from inventory.models import ProductView
from servicekit.api import CommandInput
from servicekit.fields import IdField, QuantityField


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProductView
        fields = [
            "id",
            "product_name",
            "price",
            "quantity",
            "reserved",
            "available",
            "created_at",
            "updated_at",
        ]


class ReservationSerializer(serializers.Serializer):
    order_id = serializers.UUIDField()
    quantity = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["RESERVED", "RELEASED", "VOIDED"])


class LevelsSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    product_name = serializers.CharField()
    price = serializers.IntegerField()
    quantity = serializers.IntegerField()
    reserved = serializers.IntegerField()
    available = serializers.IntegerField()


class ReservationOutcomeSerializer(LevelsSerializer):
    reservation = ReservationSerializer()


class ReserveInput(CommandInput):
    order_id = IdField()
    quantity = QuantityField()


class ReleaseInput(CommandInput):
    order_id = IdField()
    quantity = QuantityField(
        required=False, help_text="Ignored: a release gives back what the order holds."
    )


class RestockInput(CommandInput):
    quantity = QuantityField()
