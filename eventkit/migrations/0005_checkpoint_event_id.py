"""A checkpoint remembers which event it is at, so a source whose log was reset or restored
from a backup (its positions now other events) is noticed instead of silently skipped."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("eventkit", "0004_pending_events")]

    operations = [
        migrations.AddField(
            model_name="checkpoint",
            name="event_id",
            field=models.CharField(blank=True, default="", max_length=100),
        ),
    ]
