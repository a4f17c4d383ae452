# Exports are masked by default; one asked for with full numbers says so, and why.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sendon_results", "0017_invitations"),
    ]

    operations = [
        migrations.AddField(
            model_name="export",
            name="unmasked",
            field=models.BooleanField(default=False, verbose_name="full numbers"),
        ),
        migrations.AddField(
            model_name="export",
            name="reason",
            field=models.CharField(blank=True, max_length=200, verbose_name="reason for download"),
        ),
    ]
