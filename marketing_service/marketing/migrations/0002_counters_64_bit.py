"""Order counters in 64 bits, as the money and unit counters already are.

A product ordered at 65 orders/s passes 2**31 orders in about a year; a 32-bit counter
then failed every later event of it, and the worker stopped there.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("marketing", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="customerproduct",
            name="confirmed_orders",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="customerproduct",
            name="orders",
            field=models.PositiveBigIntegerField(default=0, help_text="all orders, any status"),
        ),
        migrations.AlterField(
            model_name="customerstats",
            name="cancelled_orders",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="customerstats",
            name="confirmed_orders",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="customerstats",
            name="total_orders",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="dailysales",
            name="cancelled_orders",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="dailysales",
            name="confirmed_orders",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="dailysales",
            name="total_orders",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="productstats",
            name="cancelled_orders",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="productstats",
            name="confirmed_orders",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="productstats",
            name="total_order_count",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="productstats",
            name="unique_customers",
            field=models.PositiveBigIntegerField(default=0),
        ),
    ]
