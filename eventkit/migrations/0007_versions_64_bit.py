"""Stream versions in 64 bits, as positions already are.

Every reserve and release is an event in its product's stream: at 65 orders/s on one
product a 32-bit version passes 2**31 in about a year, and every later command on it
failed ("integer out of range"). On PostgreSQL the event table is rewritten once.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("eventkit", "0006_checkpoint_hold"),
    ]

    operations = [
        migrations.AlterField(
            model_name="event",
            name="version",
            field=models.PositiveBigIntegerField(),
        ),
        migrations.AlterField(
            model_name="pendingevent",
            name="version",
            field=models.PositiveBigIntegerField(),
        ),
        migrations.AlterField(
            model_name="stream",
            name="snapshot_version",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="stream",
            name="version",
            field=models.PositiveBigIntegerField(),
        ),
    ]
