"""Trigram indexes for the support console's search (wizard.selectors.dashboard_tenants), on PostgreSQL only: a
substring search (icontains, UPPER(column) LIKE UPPER('%…%')) over 100,000 organisations and what step 0 found for
each reads every row without them (bench/console.py). The expressions are the ones Django writes for icontains, so
the planner matches them. The organisations' names live in the tenants app; the search that needs them is here."""

from django.db import migrations

INDEXES = (
    (
        "tenant_search_trgm",
        "tenants_tenant USING gin (upper(display_name::text) gin_trgm_ops, upper(slug::text) gin_trgm_ops, "
        "upper(microsoft_tenant_id::text) gin_trgm_ops)",
    ),
    (
        "stepstate_connect_found_trgm",
        "wizard_stepstate USING gin (upper(result ->> 'verified_domains') gin_trgm_ops, "
        "upper(result ->> 'service_account_upn') gin_trgm_ops) WHERE step_id = 'connect'",
    ),
)


def create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _definition in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("wizard", "0009_stepstate_status_tenant")]

    operations = [migrations.RunPython(create, drop)]
