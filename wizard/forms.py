"""What every step's form shares.

Forms only clean: `FormClass(data=None, files=None, *, tenant, state)`, `is_valid()`, then the view or the CLI
hands `cleaned_data` to wizard.actions.submit_step, which checks the step may run and only then turns it into the
step's inputs (the step's `save_inputs`, which stores any secret encrypted and never in the inputs). Each step's own
form is in its folder (wizard/steps/<profile>/<step>/form.py).
"""

import ssl
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from tenants.models import Tenant
from wizard.models import StepState


class StepForm(forms.Form):
    # Fields the page folds under a <details> titled `advanced_title`, open when `advanced_open` or one has an error.
    advanced_fields: tuple[str, ...] = ()
    advanced_title = ""

    def __init__(self, data=None, files=None, *, tenant: Tenant, state: StepState, **kwargs: Any) -> None:
        super().__init__(data, files, **kwargs)
        self.tenant = tenant
        self.state = state

    @property
    def advanced_open(self) -> bool:
        return any(name in self.errors for name in self.advanced_fields)


MAX_CA_BUNDLE_BYTES = 1024 * 1024


def read_ca_bundle(upload: Any) -> str:
    """The uploaded PEM file's text, once Python's TLS has loaded it as trusted certificates."""
    if upload.size > MAX_CA_BUNDLE_BYTES:
        raise forms.ValidationError(_("The CA bundle is larger than 1 MB."))
    try:
        text = upload.read().decode("ascii")
        if "-----BEGIN CERTIFICATE-----" not in text:
            raise ValueError("no certificate")
        ssl.create_default_context(cadata=text)
    except (UnicodeDecodeError, ValueError, ssl.SSLError) as error:
        raise forms.ValidationError(
            _("This is not a PEM file of certificates (-----BEGIN CERTIFICATE----- …).")
        ) from error
    return text
