from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("wizard", "0006_stepstate_then_steps"),
    ]

    operations = [
        migrations.AddField(
            model_name="stepstate",
            name="verify_only",
            field=models.BooleanField(default=False),
        ),
    ]
