"""The position a checkpoint's event id belongs to (an older worker moves the position alone,
which must not read as a source that started over), and a hold every worker sees."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("eventkit", "0005_checkpoint_event_id")]

    operations = [
        migrations.AddField(
            model_name="checkpoint",
            name="event_position",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="checkpoint",
            name="held_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
