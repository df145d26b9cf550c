"""The rooms step's form (Exchange Server), and how its cleaned data becomes the step's inputs."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from wizard.forms import StepForm
from wizard.outcomes import Submission
from wizard.rooms_csv import MAX_UPLOAD_BYTES, ParsedRooms, RoomsCsvError, RowStatus, parse_rooms_csv
from wizard.services import exchange_server_scripts as scripts


class RoomsForm(StepForm):
    """A CSV of the rooms (column ResourceAccounts). Onramp cannot list an on-premises organisation's mailboxes, so
    the upload is checked for form here, and the script checks each row in Exchange: a row without a mailbox or
    whose mailbox is not a room is left out with a warning. Pasting those warnings back takes the rows out of the
    plan (and shows them). Once uploaded, the CSV is kept: confirming again needs no new file."""

    csv_file = forms.FileField(label=_("Rooms CSV (column ResourceAccounts)"), required=False)
    left_out = forms.CharField(
        label=_("Rows the script left out (optional)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text=_("Paste the script's “left out” warnings here: those rows leave the room lists' plan."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        saved = len(self.state.inputs.get("rooms") or [])
        if saved:
            self.fields["csv_file"].help_text = f"{saved} rooms are uploaded; leave empty to keep them."
        else:  # nothing ran yet, so nothing can have been left out
            del self.fields["left_out"]

    def clean_csv_file(self) -> ParsedRooms | None:
        """The parsed upload, or None to keep the rooms already uploaded."""
        upload = self.cleaned_data["csv_file"]
        if upload is None:
            if not self.state.inputs.get("rooms"):
                raise forms.ValidationError(_("Choose the rooms CSV."))
            return None
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                _("The file is larger than {mb} MB.").format(mb=MAX_UPLOAD_BYTES // (1024 * 1024))
            )
        try:
            return parse_rooms_csv(upload.read())
        except RoomsCsvError as error:
            raise forms.ValidationError(error.message) from error


def rooms_inputs(submission: Submission) -> dict[str, Any]:
    """A new upload's valid rows (or the rooms uploaded before), less the rows the script's warnings left out."""
    parsed = submission.cleaned_data["csv_file"]
    if parsed is not None:
        rooms = [row.address.lower() for row in parsed.rows if row.status == RowStatus.VALID and row.address]
        refused = [
            {"line": row.line, "raw": row.raw, "address": row.address, "status": row.status, "reason": row.reason}
            for row in parsed.rows
            if row.status != RowStatus.VALID
        ]
    else:
        rooms = list(submission.saved_inputs.get("rooms") or [])
        refused = list(submission.saved_inputs.get("refused_rows") or [])
    for status, address in scripts.left_out_in_warnings(submission.cleaned_data.get("left_out", "")):
        if address in rooms:
            rooms.remove(address)
            refused.append({"line": None, "raw": address, "address": address, "status": status, "reason": status.label})
    return {"rooms": rooms, "refused_rows": refused}
