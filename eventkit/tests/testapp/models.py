from django.db import models


class TallyView(models.Model):
    id = models.UUIDField(primary_key=True)
    name = models.CharField(max_length=100)
    total = models.IntegerField(default=0)
    additions = models.IntegerField(default=0)
    updated_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name}: {self.total}"


class RemoteTallyView(models.Model):
    """Fed by the consumer from a (pretend) other service's tally events."""

    id = models.UUIDField(primary_key=True)
    total = models.IntegerField(default=0)
    additions = models.IntegerField(default=0)

    def __str__(self):
        return f"{self.id}: {self.total}"


class Keywords(models.Model):
    """Columns named like SQL keywords, for the plain-SQL row helpers."""

    id = models.UUIDField(primary_key=True)
    order = models.IntegerField(default=0)
    user = models.CharField(max_length=20, default="")

    def __str__(self):
        return f"{self.order} {self.user}"
