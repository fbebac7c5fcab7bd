from django.db import models


class TrialCounter(models.Model):
    """A free-trial counter (per browser, per IP address, or the day's total) when there is no
    Redis to keep it (the embedded default). Rows of past days are deleted as new days start."""

    key = models.CharField(max_length=200, unique=True)
    day = models.DateField(db_index=True)
    count = models.IntegerField(default=0)

    def __str__(self):
        return f"{self.key}: {self.count}"
