from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("portfolio_app", "0003_instruments_and_prices_moved_out"),
    ]

    operations = [
        migrations.AddField(
            model_name="rebalanceproposal",
            name="risk_report",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="rebalanceproposal",
            name="provenance",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="rebalanceproposal",
            name="inputs_hash",
            field=models.CharField(blank=True, max_length=64),
        ),
    ]
