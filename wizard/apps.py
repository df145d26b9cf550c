from importlib import import_module

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_migrate


class WizardConfig(AppConfig):
    name = "wizard"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Each profile module registers its steps when imported.
        for module in settings.ONRAMP_PROFILE_MODULES:
            import_module(module)
        # Step rows are created with the organisation; a step added to a profile later gets its rows at deploy.
        post_migrate.connect(create_missing_step_states, sender=self)


def create_missing_step_states(**_: object) -> int:
    """After `migrate`: a state row for every step of every organisation's profile that has none (a step added to a
    profile after the organisation was created), so pages never create rows; returns how many were created."""
    from tenants.models import Tenant
    from wizard.models import StepState
    from wizard.steps.registry import steps_for

    present = set(StepState.objects.values_list("tenant_id", "step_id"))
    missing = [
        StepState(tenant=tenant, step_id=step.id, position=index)
        for tenant in Tenant.objects.all()
        for index, step in enumerate(steps_for(tenant.profile))
        if (tenant.pk, step.id) not in present
    ]
    StepState.objects.bulk_create(missing, ignore_conflicts=True)
    return len(missing)
