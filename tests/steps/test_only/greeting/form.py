"""The greeting step's form, and its cleaned data as the step's inputs."""

from typing import Any

from django import forms

from wizard.forms import StepForm
from wizard.outcomes import Submission


class GreetingForm(StepForm):
    name = forms.CharField(max_length=20)
    shout = forms.BooleanField(required=False)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name.isalpha():
            raise forms.ValidationError("Letters only.")
        return name


def greeting_inputs(submission: Submission) -> dict[str, Any]:
    return {"name": submission.cleaned_data["name"], "shout": submission.cleaned_data["shout"]}
