"""The Step type and the profiles. A step is a folder (wizard/steps/<profile>/<step id>/: its declaration in
step.py, form, service, result, PowerShell and page.html); a profile is the list of its steps, in
wizard/steps/<profile>/profile.py.

The profile modules register themselves when imported; WizardConfig.ready() imports them, so this module never
looks up at them."""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wizard.admin_roles import RoleNeed
from wizard.outcomes import Outcome, StepContext, Submission
from wizard.results import StepResult

if TYPE_CHECKING:
    from django import forms

    from tenants.models import Tenant
    from wizard.models import StepState


Service = Callable[[StepContext], Outcome]
Check = Callable[[StepContext], dict[str, Any]]
PowerShell = Callable[["Tenant", "StepState"], str]
SaveInputs = Callable[[Submission], dict[str, Any]]
# Extra context for the step's page: (tenant, state, may the viewer change secrets) → template variables.
PageContext = Callable[["Tenant", "StepState", bool], dict[str, Any]]


def cleaned_data_as_inputs(submission: Submission) -> dict[str, Any]:
    return dict(submission.cleaned_data)


@dataclass(frozen=True)
class Confirmation:
    """How a manual step (one the admin runs in their own shell) is confirmed: the digest of the script its page
    shows now, and the recorder of "I ran it", which refuses a digest that is not the current script's."""

    digest: Callable[["Tenant", "StepState"], str]
    record: Callable[..., object]  # (tenant, step_id, actor, *, digest) -> the audit event
    # Which later step proves what the commands did, in words for the page: confirming only records that they ran.
    checked_by: str
    # Where the admin runs the commands, in words for the page and the command line.
    shell: str = "the Exchange Management Shell"


@dataclass(frozen=True)
class RunYourself:
    """An Exchange Online step as it is when the organisation's admin makes the Exchange changes (Tenant.
    exchange_writes): its page shows the Exchange Online PowerShell to run, the admin confirms it (bound to the
    script's digest), and its service checks what Onramp can still read without InvokeCommand. A step that writes
    nothing but reads through InvokeCommand (verify) has a `perform` of its own and no confirmation."""

    perform: Service
    powershell: PowerShell | None = None
    confirmation: Confirmation | None = None


class RoomsTable:
    """Which per-room status a step's rooms table judges."""

    NONE = ""
    MEMBERSHIP = "membership"
    VERIFICATION = "verification"


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    summary: str
    why: str
    perform: Service
    powershell: PowerShell
    # What the step saves as its result (wizard.results); its STEP_ID is this step's id.
    result_type: type[StepResult]
    verify: Check | None = None
    form: "type[forms.Form] | None" = None
    optional: bool = False
    # Exchange Server: the admin runs the PowerShell and confirms; Onramp cannot perform it.
    manual: bool = False
    # Turns the form's cleaned data into the saved inputs, storing any secret it holds (never in the inputs).
    save_inputs: SaveInputs = cleaned_data_as_inputs
    page_context: PageContext | None = None
    rooms_table: str = RoomsTable.NONE
    # The step first ends in needs_input with a preview; running it again with `confirmed` applies the preview.
    confirms_preview: bool = False
    # Manual steps only: how the admin confirms they ran the script.
    confirmation: Confirmation | None = None
    # Ids of the earlier steps this one builds on: it runs only once they (and what they require) are done.
    requires: tuple[str, ...] = ()
    # Its runs ask Microsoft first whether the kept administrator's sign-in still stands, and wait for a sign-in again
    # when it does not (wizard.services.admin_sign_in); False for a step that must work without it.
    under_admin_sign_in: bool = True
    # Exchange Online steps that use InvokeCommand: the step when the organisation's admin makes Exchange changes.
    run_yourself: RunYourself | None = None
    # What its run does with the signed-in administrator's rights (connected with Microsoft), and so the directory
    # roles the person must hold before it writes (wizard.admin_roles).
    admin_roles: tuple[RoleNeed, ...] = ()

    @property
    def can_reverify(self) -> bool:
        """Whether a finished step can be checked again. For the templates: they would call `verify` itself."""
        return self.verify is not None


_PROFILES: dict[str, tuple[Step, ...]] = {}
# Where each profile's step folders are: the folder named after the profile, which holds one folder per step.
_FOLDERS: dict[str, Path] = {}
PAGE_TEMPLATE = "page.html"


def register_profile(profile: str, steps: tuple[Step, ...], folder: Path) -> None:
    """Register a profile's steps, in order; `folder` is the profile's folder (named after it), where each step has
    its folder named after its id."""
    if folder.name != profile:
        raise ValueError(f"profile {profile} must live in a folder named {profile}, not {folder}")
    ids = [step.id for step in steps]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate step ids in profile {profile}: {ids}")
    for index, step in enumerate(steps):
        if step.id != step.result_type.STEP_ID:
            raise ValueError(f"step {step.id!r} of profile {profile} saves {step.result_type.__name__}, another step's")
        later = [required for required in step.requires if required not in ids[:index]]
        if later:
            raise ValueError(f"step {step.id!r} of profile {profile} requires {later}, which are not earlier steps")
    _PROFILES[profile] = steps
    _FOLDERS[profile] = folder


def profile_parent_folders() -> list[Path]:
    """The folders that hold the profiles' folders, for the step-page template loader."""
    return list(dict.fromkeys(folder.parent for folder in _FOLDERS.values()))


def page_template(profile: str, step_id: str) -> str:
    """The template name of a step's page: page.html in the step's folder (wizard.steps.templates finds it)."""
    return f"{profile}/{step_id}/{PAGE_TEMPLATE}"


def steps_for(profile: str) -> tuple[Step, ...]:
    try:
        return _PROFILES[profile]
    except KeyError:
        raise LookupError(f"no steps registered for profile {profile!r}") from None


def get_step(profile: str, step_id: str) -> Step:
    for step in steps_for(profile):
        if step.id == step_id:
            return step
    raise LookupError(f"no step {step_id!r} in profile {profile!r}")


def as_run_by(tenant: "Tenant", step: Step) -> Step:
    """The step as this organisation has it: its run-it-yourself form when its admin makes the Exchange changes."""
    if step.run_yourself is None or not tenant.admin_runs_exchange_writes:
        return step
    own = step.run_yourself
    return dataclasses.replace(
        step,
        perform=own.perform,
        powershell=own.powershell or step.powershell,
        manual=own.confirmation is not None,
        confirmation=own.confirmation,
        # The step's own check reads Exchange through InvokeCommand: there is nothing to re-verify this way.
        verify=None,
        # The admin's script applies the plan the page shows; there is no separate preview to confirm.
        confirms_preview=False if own.confirmation is not None else step.confirms_preview,
    )


def step_of(tenant: "Tenant", step_id: str) -> Step:
    """The tenant's step `step_id`, as its organisation runs it (`as_run_by`): what pages, actions and the engine
    use for a tenant."""
    return as_run_by(tenant, get_step(tenant.profile, step_id))


def steps_of(tenant: "Tenant") -> tuple[Step, ...]:
    return tuple(as_run_by(tenant, step) for step in steps_for(tenant.profile))


def prerequisites(profile: str, step_id: str) -> list[Step]:
    """Every step `step_id` builds on, directly or through another, in the profile's order."""
    steps = steps_for(profile)
    by_id = {step.id: step for step in steps}
    needed: set[str] = set()
    pending = list(get_step(profile, step_id).requires)
    while pending:
        required = pending.pop()
        if required not in needed:
            needed.add(required)
            pending.extend(by_id[required].requires)
    return [step for step in steps if step.id in needed]
