"""The rooms step's form, and how its cleaned data becomes the step's inputs."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from wizard.forms import StepForm
from wizard.outcomes import Submission
from wizard.rooms_csv import MAX_UPLOAD_BYTES, RoomsCsvError, parse_rooms_csv
from wizard.steps.exchange_online.rooms import service as rooms


class RoomsForm(StepForm):
    """Choose the rooms: every room mailbox of the tenant (optionally equipment too), or a CSV upload.

    Two posts. (1) `source` (`all` | `csv`, with `csv_file` for csv) → the step runs without applying anything and
    ends in `needs_input` with `state.result["preview"]`: a list of {line, address, status, reason} (status is one
    of wizard.rooms_csv.RowStatus: valid, unknown_mailbox, not_a_resource_mailbox, duplicate, already_member,
    malformed, formula) and `state.result["preview_summary"]` (rows per status and `total`). The page shows that
    table and a Confirm button. (2) Confirm posts `confirm=1` alone: the saved choice is applied (rows that are
    valid or already members). A CSV problem of the whole file (empty, wrong column, binary…) is a form error on
    `csv_file`; problems of single rows are shown in the preview, never applied.
    """

    source = forms.ChoiceField(
        label=_("Source"),
        choices=[(rooms.SOURCE_ALL, _("Every room mailbox of the organisation")), (rooms.SOURCE_CSV, _("A CSV file"))],
        required=False,
        widget=forms.RadioSelect,
        initial=rooms.SOURCE_ALL,
    )
    include_equipment = forms.BooleanField(label=_("Include equipment mailboxes"), required=False)
    csv_file = forms.FileField(label=_("Rooms CSV (column ResourceAccounts)"), required=False)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("confirm"):
            if not self.state.inputs.get("source"):
                raise forms.ValidationError(_("There is no preview to confirm; choose the rooms first."))
            return cleaned
        if not cleaned.get("source"):
            self.add_error("source", _("Choose where the rooms come from."))
        elif cleaned["source"] == rooms.SOURCE_CSV:
            upload = cleaned.get("csv_file")
            if upload is None:
                # An empty or unreadable file already has its own error; one is enough.
                if "csv_file" not in self.errors:
                    self.add_error("csv_file", _("Choose the CSV file to upload."))
            elif upload.size > MAX_UPLOAD_BYTES:
                self.add_error(
                    "csv_file", _("The file is larger than {mb} MB.").format(mb=MAX_UPLOAD_BYTES // (1024 * 1024))
                )
            else:
                try:
                    cleaned["parsed"] = parse_rooms_csv(upload.read())
                except RoomsCsvError as error:
                    self.add_error("csv_file", error.message)
        return cleaned


def rooms_inputs(submission: Submission) -> dict[str, Any]:
    """A new choice of rooms (previewed first), or the confirmation of the preview already saved."""
    data = submission.cleaned_data
    if data.get("confirm"):
        return {**submission.saved_inputs, "confirmed": True}
    if data["source"] == rooms.SOURCE_CSV:
        return rooms.csv_inputs(data["parsed"])
    return rooms.all_rooms_inputs(include_equipment=data["include_equipment"])
