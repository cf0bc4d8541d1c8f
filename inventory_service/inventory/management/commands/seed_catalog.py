"""``manage.py seed_catalog``: register the sample catalog, as events. Safe to run again."""

from django.core.management.base import BaseCommand

from inventory.catalog import SAMPLE_CATALOG
from inventory.services import product_register


class Command(BaseCommand):
    help = "Register the sample products with their initial stock (idempotent)."

    def handle(self, *args, **options):
        for product_id, name, price, stock in SAMPLE_CATALOG:
            outcome = product_register(
                product_id=product_id, product_name=name, price=price, initial_stock=stock
            )
            verb = "registered" if outcome.recorded else "already there:"
            self.stdout.write(
                f"{verb} {name} ({product_id}), available {outcome.value['available']}"
            )
