"""The scoped_access step's form (Exchange Server), and how its cleaned data becomes the step's inputs."""

from django import forms
from django.utils.translation import gettext_lazy as _

from wizard.forms import StepForm


class ScopedAccessForm(StepForm):
    room_list_dns = forms.CharField(
        label=_("Distinguished names of the room lists"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One per line, as Get-DistributionGroup prints them (CN=…,OU=…,DC=…)."),
    )

    def clean_room_list_dns(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["room_list_dns"].splitlines() if line.strip()]
        bad = [line for line in lines if not line.upper().startswith("CN=")]
        if bad:
            raise forms.ValidationError(_("Not a distinguished name: {line}").format(line=bad[0]))
        return list(dict.fromkeys(lines))
