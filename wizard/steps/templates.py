"""Finds each step's page template in the step's own folder: `<profile>/<step id>/page.html`, under the folder that
holds the registered profile (wizard.steps.registry.page_template names it)."""

from django.template.loaders.filesystem import Loader as FilesystemLoader

from wizard.steps.registry import profile_parent_folders


class StepPageLoader(FilesystemLoader):
    def get_dirs(self) -> list:
        return profile_parent_folders()
