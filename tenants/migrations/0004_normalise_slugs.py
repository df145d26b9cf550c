"""Slugs saved before the command line validated them (spaces, slashes) made every page that links to the
organisation fail; each becomes a valid, unique slug derived from it."""

import re

from django.db import migrations
from django.utils.text import slugify

VALID = re.compile(r"^[-a-zA-Z0-9_]{1,50}$")


def normalise_slugs(apps, schema_editor):
    tenants = apps.get_model("tenants", "Tenant")
    taken = set(tenants.objects.values_list("slug", flat=True))
    for tenant in tenants.objects.all():
        if VALID.match(tenant.slug):
            continue
        base = slugify(tenant.slug)[:44] or "organisation"
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        taken.add(candidate)
        tenant.slug = candidate
        tenant.save(update_fields=["slug"])


class Migration(migrations.Migration):
    dependencies = [("tenants", "0003_membership_notify")]
    operations = [migrations.RunPython(normalise_slugs, migrations.RunPython.noop)]
