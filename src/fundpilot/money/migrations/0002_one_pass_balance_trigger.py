"""The balance triggers read a header's legs in one pass instead of three."""

from django.db import migrations

from fundpilot.money.ledger_sql import reinstalled_ledger


class Migration(migrations.Migration):
    dependencies = [("money", "0001_initial")]

    operations = [reinstalled_ledger()]
