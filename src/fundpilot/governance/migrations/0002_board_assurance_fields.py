"""C17: the unresolved question count a board decided with, and who closed a
restriction and why. C19: an assurance review's three summaries (compliance, outcomes,
equity); the overall summary becomes optional."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="boarddecision",
            name="unresolved_questions",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="restriction",
            name="closed_by",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="restriction",
            name="closing_note",
            field=models.TextField(blank=True),
        ),
        *(
            migrations.AddField(
                model_name="assurancereview",
                name=area,
                field=models.TextField(default=""),
                preserve_default=False,
            )
            for area in ("compliance", "outcomes", "equity")
        ),
        migrations.AlterField(
            model_name="assurancereview",
            name="summary",
            field=models.TextField(blank=True),
        ),
    ]
