from importlib import import_module

from django.apps import AppConfig

# Each profile module registers its steps when imported.
PROFILE_MODULES = ("wizard.steps.exchange_online", "wizard.steps.exchange_server")


class WizardConfig(AppConfig):
    name = "wizard"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        for module in PROFILE_MODULES:
            import_module(module)
