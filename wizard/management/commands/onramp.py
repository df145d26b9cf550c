"""`manage.py onramp`: the wizard without the browser, on the same engine, services, tasks and audit trail.

onramp connect --slug S --tenant-id T --client-id C (--client-secret-env VAR | --client-secret-file F | --client-
               certificate-file F) --integration-app-id A [--integration-secret-env VAR | --integration-secret-file F]
               [--cloud worldwide | --authority URL --graph-url URL --exchange-url URL --ews-url URL [--ca-bundle F]]
               [--actor NAME]
onramp run --slug S [--rooms-csv F | --all-rooms] [--room-list-name N] [--service-account UPN] [--yes] [--wait]
           [--set STEP.FIELD=VALUE ...] [--file STEP.FIELD=PATH ...]   (any step's form, checked as on its page)
onramp status [--slug S] [--json]
onramp verify --slug S [--step ID]                  (--step: re-verify that succeeded step's check, as its page does)
onramp drift --slug S [--json]                       (re-check an activated organisation; exit 4 when it drifted)
onramp run --slug S --new-rooms [--yes]              (place the rooms a fresh drift check finds in no list)
onramp confirm --slug S --step ID [--yes] [--wait]   (a manual step: print its script, record that it was run)
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError, CommandParser, no_translations

from tenants.access import tenants_bound_to
from tenants.forms import TenantForm
from tenants.models import Cloud, ExchangeWrites, Profile, Tenant, TenantStatus
from wizard import actions, headless, presenters, selectors
from wizard.errors import IllegalTransition, ReverifyRefused, StepError
from wizard.models import DriftCheck, DriftCheckStatus, StepState, StepStatus
from wizard.outcomes import SIGN_IN_AGAIN
from wizard.steps.exchange_online.connect.form import share_inputs
from wizard.steps.exchange_online.connect.page import consent_link_if_not_consented
from wizard.steps.exchange_online.connect.result import ConnectResult
from wizard.steps.exchange_online.verify.result import VerifyResult
from wizard.steps.registry import step_of, steps_of

DEFAULT_ACTOR = "cli"
# The connect page's explicit endpoint fields (the connect form's ENDPOINT_FIELDS) as `onramp connect` options.
ENDPOINT_FLAGS = {
    "authority": "--authority",
    "graph_url": "--graph-url",
    "exchange_admin_url": "--exchange-url",
    "ews_url": "--ews-url",
}
# The connect form's fields as the options that fill them, to name a refused one.
CONNECT_FIELD_OPTIONS = {
    "microsoft_tenant_id": "--tenant-id",
    "client_id": "--client-id",
    "client_secret": "--client-secret-env/--client-secret-file",
    "client_certificate": "--client-certificate-file",
    "certificate_thumbprint": "--certificate-thumbprint",
    "integration_app_id": "--integration-app-id",
    "integration_client_secret": "--integration-secret-env/--integration-secret-file",
    "cloud": "--cloud",
    **ENDPOINT_FLAGS,
    "ca_bundle": "--ca-bundle",
}
# Asked by the connect form only once step 0 found the Microsoft tenant bound to another organisation.
SHARE_FIELD = "share_microsoft_tenant"
# The connector app's credential: exactly one of these.
CREDENTIAL_OPTIONS = ("client_secret_env", "client_secret_file", "client_certificate_file")
DEFAULT_TIMEOUT_SECONDS = 3600
EXIT_FAILED = 1
EXIT_NEEDS_INPUT = 2
EXIT_WAITING = 3
EXIT_DRIFTED = 4


class Command(BaseCommand):
    help = "Connect a Microsoft 365 tenant and run Onramp's steps from the command line."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)

        connect_parser = sub.add_parser(
            "connect",
            help="Create the tenant if needed, store its app credentials (encrypted) and run step 0 to check them.",
        )
        connect_parser.add_argument("--slug", required=True)
        connect_parser.add_argument("--name", help="Display name of a new tenant (default: the slug).")
        connect_parser.add_argument("--tenant-id")
        connect_parser.add_argument("--client-id")
        connect_parser.add_argument("--client-secret-env", help="Environment variable holding the client secret.")
        connect_parser.add_argument("--client-secret-file", type=Path, help="Or a file holding the client secret.")
        connect_parser.add_argument(
            "--client-certificate-file",
            type=Path,
            help="Instead of a secret: PEM file with the private key of a certificate the app holds (and optionally "
            "the certificate).",
        )
        connect_parser.add_argument(
            "--certificate-thumbprint", default="", help="The certificate's SHA-1 thumbprint (40 hex characters)."
        )
        connect_parser.add_argument("--integration-app-id")
        connect_parser.add_argument(
            "--with-microsoft",
            action="store_true",
            help="Connect with Onramp's own app: sign in as a Global Administrator of the organisation with a code "
            "shown here (device code flow), then consent in a browser. No app registration or secret needed.",
        )
        connect_parser.add_argument(
            "--integration-secret-env", help="Environment variable holding the integration app's secret (optional)."
        )
        connect_parser.add_argument(
            "--integration-secret-file", type=Path, help="Or a file holding the integration app's secret."
        )
        connect_parser.add_argument(
            "--cloud",
            choices=[c for c in Cloud.values if c != Cloud.CUSTOM],
            help=f"Default {Cloud.WORLDWIDE}. The endpoint options below mean explicit endpoints instead.",
        )
        for field, flag in ENDPOINT_FLAGS.items():
            connect_parser.add_argument(flag, dest=field, help="An explicit endpoint (https://), as on the page.")
        connect_parser.add_argument(
            "--ca-bundle", type=Path, help="PEM certificates to trust for the explicit endpoints (a private CA)."
        )
        connect_parser.add_argument(
            "--share-microsoft-tenant",
            action="store_true",
            help="Connect even though another organisation is bound to the same Microsoft tenant (audited).",
        )
        connect_parser.add_argument("--admin", default="admin", help="User who administers a tenant created here.")
        connect_parser.add_argument("--actor", default=DEFAULT_ACTOR)

        run_parser = sub.add_parser("run", help="Run the remaining steps through the worker.")
        run_parser.add_argument("--slug", required=True)
        rooms_source = run_parser.add_mutually_exclusive_group()
        rooms_source.add_argument("--rooms-csv", type=Path, help="CSV with a ResourceAccounts column.")
        rooms_source.add_argument("--all-rooms", action="store_true", help="Every room mailbox of the tenant.")
        rooms_source.add_argument(
            "--new-rooms",
            action="store_true",
            help="An activated organisation's rooms created since: checks for drift, then places those in no list.",
        )
        run_parser.add_argument("--include-equipment", action="store_true")
        run_parser.add_argument("--room-list-name")
        run_parser.add_argument("--service-account", help="UPN of the service account to create or adopt.")
        run_parser.add_argument("--control-mailbox", help="A mailbox that must stay out of scope.")
        run_parser.add_argument("--webhook-url")
        run_parser.add_argument(
            "--reduce-access",
            action="store_true",
            help="After activation, hand Onramp's access back (the optional last step): delete its certificate, "
            "erase its credential and print what the admin removes. Verify then needs access granted again.",
        )
        run_parser.add_argument(
            "--from",
            dest="start",
            help="Run again from this step id (default: the first unfinished step, or an earlier step given new "
            "choices by these options).",
        )
        run_parser.add_argument("--until", help="Stop after this step id.")
        run_parser.add_argument(
            "--set",
            dest="form_values",
            action="append",
            default=[],
            metavar="STEP.FIELD=VALUE",
            help="A field of a step's form, as on its page and checked by the same form (repeat for each field).",
        )
        run_parser.add_argument(
            "--file",
            dest="form_files",
            action="append",
            default=[],
            metavar="STEP.FIELD=PATH",
            help="A file field of a step's form: the file its page would upload.",
        )
        run_parser.add_argument("--yes", action="store_true", help="Apply the rooms preview without asking.")
        run_parser.add_argument(
            "--wait", action="store_true", help="Also wait while Microsoft provisions (mailbox, customisation)."
        )
        run_parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS)
        run_parser.add_argument("--actor", default=DEFAULT_ACTOR)

        status_parser = sub.add_parser("status", help="Every step of one tenant, or of every tenant.")
        status_parser.add_argument("--slug")
        status_parser.add_argument("--json", dest="as_json", action="store_true")

        confirm_parser = sub.add_parser(
            "confirm",
            help="A step you run yourself (Exchange Server): print its script, then record that you ran it and check.",
        )
        confirm_parser.add_argument("--slug", required=True)
        confirm_parser.add_argument("--step", required=True, dest="step_id")
        confirm_parser.add_argument("--yes", action="store_true", help="Confirm without asking.")
        confirm_parser.add_argument("--wait", action="store_true", help="Follow the check until it ends.")
        confirm_parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS)
        confirm_parser.add_argument("--actor", default=DEFAULT_ACTOR)

        verify_parser = sub.add_parser(
            "verify", help="Check again that every room is in scope (the verify step alone; nothing is changed)."
        )
        verify_parser.add_argument("--slug", required=True)
        verify_parser.add_argument(
            "--step",
            dest="step_id",
            help="Re-verify this step instead: its check alone, here and now (as its page's Re-verify); only a step "
            "that has succeeded and has a check.",
        )
        verify_parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS)
        verify_parser.add_argument("--actor", default=DEFAULT_ACTOR)

        drift_parser = sub.add_parser(
            "drift", help="Re-check an activated organisation for drift now (what the nightly check does)."
        )
        drift_parser.add_argument("--slug", required=True)
        drift_parser.add_argument("--json", dest="as_json", action="store_true")
        drift_parser.add_argument("--actor", default=DEFAULT_ACTOR)

        writes_parser = sub.add_parser(
            "exchange-writes",
            help="Who makes an Exchange Online organisation's Exchange changes: Onramp (through InvokeCommand) or the "
            "admin (each step's PowerShell, then `onramp confirm`). Recorded in the timeline; reversible.",
        )
        writes_parser.add_argument("--slug", required=True)
        writes_parser.add_argument("--by", required=True, choices=("onramp", "admin"), dest="made_by")
        writes_parser.add_argument("--actor", default=DEFAULT_ACTOR)

    # The CLI speaks English whatever ONRAMP_LANGUAGE is (README, "Languages"): its own lines are English, and so
    # must be the refusals and errors of the actions it calls.
    @no_translations
    def handle(self, *args: Any, action: str, **options: Any) -> None:
        # `_confirm` is the rooms preview's prompt, so the confirm command's method has its own name.
        getattr(self, "_confirm_step" if action == "confirm" else f"_{action.replace('-', '_')}")(**options)

    def _exchange_writes(self, *, slug: str, made_by: str, actor: str, **options: Any) -> None:
        tenant = self._tenant(slug)
        writes = ExchangeWrites.BY_ADMIN if made_by == "admin" else ExchangeWrites.BY_ONRAMP
        try:
            tenant = actions.set_exchange_writes(tenant, actor, writes)
        except StepError as refusal:
            raise CommandError(f"{refusal.message} {refusal.fix}") from refusal
        except IllegalTransition as refusal:
            raise CommandError(str(refusal)) from refusal
        if tenant.admin_runs_exchange_writes:
            self.stdout.write(
                f"{slug}: the admin makes the Exchange changes. Each Exchange step stops for its commands: run them in"
                f" Exchange Online PowerShell, then `onramp confirm --slug {slug} --step STEP`."
            )
        else:
            self.stdout.write(f"{slug}: Onramp makes the Exchange changes through InvokeCommand.")

    # -- connect ---------------------------------------------------------------------------------------------------
    def _connect(self, *, slug: str, actor: str, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=slug).first() or self._create_tenant(
            slug, options["name"], options["admin"]
        )
        # Step 0 runs here, in this process, so the admin learns at once whether the credentials work.
        try:
            if options.get("with_microsoft"):
                tenant = self._sign_in_with_microsoft(tenant, actor, options)
                inputs: dict[str, Any] = {"method": "cli"}
                if options.get("share_microsoft_tenant"):
                    inputs |= share_inputs(actor)
                state = actions.submit_step(tenant, "connect", actor, inputs=inputs, send_task=False)
            else:
                cleaned = self._pasted_credentials(tenant, options)
                state = actions.submit_step(tenant, "connect", actor, cleaned_data=cleaned, send_task=False)
        except StepError as refusal:
            # New credentials Microsoft refused: the stored ones were kept, and step 0 is not run.
            self._print_error("connect refused", refusal.code, refusal.message, refusal.detail())
            sys.exit(EXIT_FAILED)
        state = actions.run_step_here(state)
        if state.status != StepStatus.SUCCEEDED and (link := consent_link_if_not_consented(tenant, state)):
            self.stderr.write("Onramp's app is not consented in your organisation yet. Open this link as a Global")
            self.stderr.write("Administrator (or Privileged Role Administrator), accept, then run `onramp run`:")
            self.stderr.write(f"  {link}")
            sys.exit(EXIT_NEEDS_INPUT)
        if state.status == StepStatus.NEEDS_INPUT and SIGN_IN_AGAIN in state.result:
            self.stderr.write(f"connect waits: {state.progress_message}")
            self.stderr.write("  Run `onramp connect --with-microsoft` again to sign in.")
            sys.exit(EXIT_NEEDS_INPUT)
        if state.status == StepStatus.NEEDS_INPUT:
            # Whoever runs this command administers the installation, so the other organisations are named.
            others = ", ".join(t.slug for t in tenants_bound_to(tenant.microsoft_tenant_id).exclude(pk=tenant.pk))
            self.stderr.write(f"connect needs a decision: {state.progress_message}")
            self.stderr.write(f"  Bound to the same Microsoft tenant: {others}.")
            self.stderr.write("  To share it, run again with --share-microsoft-tenant.")
            sys.exit(EXIT_NEEDS_INPUT)
        if state.status != StepStatus.SUCCEEDED:
            self._print_failure(state)
            sys.exit(EXIT_FAILED)
        result = ConnectResult.from_json(state.result)
        self.stdout.write(
            self.style.SUCCESS(
                f"Connected {tenant.slug} to {result.organization_name} ({tenant.microsoft_tenant_id}); "
                f"verified domains: {', '.join(result.verified_domains)}."
            )
        )

    def _create_tenant(self, slug: str, name: str | None, admin: str) -> Tenant:
        """A new organisation, checked by the same form the page uses (slug characters and length, uniqueness)."""
        user, created = get_user_model().objects.get_or_create(username=admin)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        form = TenantForm({"display_name": name or slug, "slug": slug, "profile": Profile.EXCHANGE_ONLINE})
        if not form.is_valid():
            problems = "; ".join(f"--{field}: {' '.join(errors)}" for field, errors in form.errors.items())
            raise CommandError(f"Cannot create the organisation: {problems}")
        self.stdout.write(f"Creating tenant {slug}, administered by {admin}.")
        return actions.create_tenant(
            creator=user, display_name=form.cleaned_data["display_name"], slug=form.cleaned_data["slug"]
        )

    def _sign_in_with_microsoft(self, tenant: Tenant, actor: str, options: dict[str, Any]) -> Tenant:
        """The terminal's "Connect with Microsoft": the administrator signs in elsewhere with the code shown here;
        their validated sign-in binds the organisation (no id or secret is typed)."""
        pasted = [
            f"--{name.replace('_', '-')}"
            for name in ("tenant_id", "client_id", *CREDENTIAL_OPTIONS)
            if options.get(name)
        ]
        if pasted:
            raise CommandError(f"--with-microsoft takes no {', '.join(pasted)}: the sign-in says which tenant it is.")
        if options.get("integration_app_id"):
            actions.set_integration_app_id(tenant, options["integration_app_id"].strip(), actor)
        flow = actions.begin_connect_in_terminal(tenant)
        self.stdout.write(flow["message"])
        self.stdout.flush()
        return actions.complete_connect_in_terminal(tenant, flow=flow, actor=actor)

    def _pasted_credentials(self, tenant: Tenant, options: dict[str, Any]) -> dict[str, Any]:
        """The options as the connect page's form would receive them, checked by that form: its cleaned data, or
        a CommandError naming each refused option in the form's own words. Secrets come from files or environment
        variables, never from the command line itself."""
        needed = ("tenant_id", "client_id", "integration_app_id")
        missing = [f"--{name.replace('_', '-')}" for name in needed if not options.get(name)]
        given = [f"--{name.replace('_', '-')}" for name in CREDENTIAL_OPTIONS if options.get(name)]
        if not given:
            missing.append("--client-secret-env (or --client-secret-file, --client-certificate-file)")
        if missing:
            raise CommandError(f"Give all of: {', '.join(missing)}.")
        if len(given) > 1:
            raise CommandError(f"Give one of {', '.join(given)}, not several.")
        if options.get("integration_secret_env") and options.get("integration_secret_file"):
            raise CommandError("Give --integration-secret-env or --integration-secret-file, not both.")
        explicit = {field: options[field] for field in ENDPOINT_FLAGS if options.get(field)}
        if (explicit or options.get("ca_bundle")) and options.get("cloud"):
            raise CommandError(
                "Explicit endpoints (--authority, --graph-url, …) replace --cloud: give one or the other."
            )
        data = {
            "microsoft_tenant_id": options["tenant_id"],
            "client_id": options["client_id"],
            "client_secret": ""
            if options.get("client_certificate_file")
            else self._secret(options["client_secret_env"], options["client_secret_file"]),
            "certificate_thumbprint": options.get("certificate_thumbprint") or "",
            "integration_app_id": options["integration_app_id"],
            "integration_client_secret": self._secret(
                options["integration_secret_env"], options["integration_secret_file"]
            )
            if options.get("integration_secret_env") or options.get("integration_secret_file")
            else "",
            "cloud": Cloud.CUSTOM if explicit or options.get("ca_bundle") else options.get("cloud") or Cloud.WORLDWIDE,
            **explicit,
        }
        files = {}
        for field, option in (("client_certificate", "client_certificate_file"), ("ca_bundle", "ca_bundle")):
            if path := options.get(option):
                try:
                    files[field] = SimpleUploadedFile(path.name, path.read_bytes())
                except OSError as error:
                    raise CommandError(f"Cannot read {path}: {error}") from error
        state = StepState.objects.get(tenant=tenant, step_id="connect")
        form = step_of(tenant, "connect").form(data, files, tenant=tenant, state=state)
        if options.get("share_microsoft_tenant") and SHARE_FIELD in form.fields:
            form = step_of(tenant, "connect").form({**data, SHARE_FIELD: True}, files, tenant=tenant, state=state)
        if not form.is_valid():
            problems = "; ".join(
                f"{CONNECT_FIELD_OPTIONS.get(field, '--' + field.replace('_', '-'))}: {' '.join(errors)}"
                if field != "__all__"
                else " ".join(errors)
                for field, errors in form.errors.items()
            )
            raise CommandError(f"connect refused: {problems}")
        return form.cleaned_data

    @staticmethod
    def _secret(variable: str | None, path: Path | None) -> str:
        """A secret from the file or the environment variable named: never from the command line itself."""
        if path is not None:
            try:
                value = path.read_text().strip()
            except (OSError, UnicodeDecodeError) as error:
                raise CommandError(f"Cannot read the secret file {path}: {error}") from error
            if not value:
                raise CommandError(f"The secret file {path} is empty.")
            return value
        value = os.environ.get(variable or "", "")
        if not value:
            raise CommandError(f"The environment variable {variable} is empty or not set.")
        return value

    # -- run -------------------------------------------------------------------------------------------------------
    def _run(
        self,
        *,
        slug: str,
        actor: str,
        yes: bool,
        wait: bool,
        timeout: float,
        start: str | None,
        until: str | None,
        **options: Any,
    ) -> None:
        tenant = self._tenant(slug)
        data, files = self._named_fields(tenant, options)
        self._add_form_pairs(data, "--set", options["form_values"])
        self._add_form_pairs(files, "--file", options["form_files"])
        submissions = self._form_submissions(tenant, data, files)
        if options["reduce_access"] and not until:
            until = _hand_back_step(tenant)
        inputs: dict[str, dict[str, Any]] = {}
        if options["new_rooms"]:
            self._place_new_rooms(tenant, actor, confirmed=yes)
        if yes:
            # A new choice on the command line wins over a preview waiting on the same step.
            waiting = self._confirmed_previews(tenant)
            inputs = {step_id: chosen for step_id, chosen in waiting.items() if step_id not in submissions}
        step_ids = [step.id for step in steps_of(tenant)]
        for name in (start, until):
            if name and name not in step_ids:
                raise CommandError(f"No step {name!r}; steps are {', '.join(step_ids)}.")
        first = headless.first_step_to_run(tenant, start, {**inputs, **submissions})
        if first is None:
            self.stdout.write("Every step has succeeded; nothing to run (use --from STEP to run again).")
            self._print_status(tenant)
            return
        confirmed_here = False
        while True:
            try:
                outcome = headless.run_steps(
                    tenant,
                    actor=actor,
                    start=first,
                    until=until,
                    inputs=inputs,
                    submissions=submissions,
                    wait_on_microsoft=wait,
                    on_update=self._print_update,
                    timeout=timeout,
                )
            except actions.PrerequisiteNotDone as refusal:
                raise CommandError(f"{refusal} (onramp run --from {refusal.first.id})") from refusal
            stopped = outcome.stopped_at
            if stopped is None:
                self.stdout.write(self.style.SUCCESS(f"{', '.join(outcome.ran)}: succeeded."))
                if options["reduce_access"] and _hand_back_step(tenant) in outcome.ran:
                    self._print_hand_back(tenant)
                self._print_status(tenant)
                return
            confirms_preview = step_of(tenant, stopped.step_id).confirms_preview
            if (
                not confirmed_here
                and stopped.status == StepStatus.NEEDS_INPUT
                and confirms_preview
                and self._confirm(tenant, stopped, yes)
            ):
                inputs[stopped.step_id] = {**stopped.inputs, "confirmed": True}
                submissions.pop(stopped.step_id, None)
                first = stopped.step_id
                confirmed_here = True
                continue
            break
        self._print_status(tenant)
        if stopped.status == StepStatus.NEEDS_INPUT:
            self.stderr.write(f"{stopped.step_id} needs input: {stopped.progress_message}")
            if confirms_preview:
                self.stderr.write("Pass --yes to apply the preview, or --rooms-csv/--all-rooms to choose rooms.")
            elif step_of(tenant, stopped.step_id).confirmation is not None:
                self.stderr.write(
                    f"Print its commands with `onramp confirm --slug {tenant.slug} --step {stopped.step_id}`; once you"
                    " ran them, confirm with --yes."
                )
            sys.exit(EXIT_NEEDS_INPUT)
        if stopped.status in (StepStatus.WAITING, StepStatus.QUEUED, StepStatus.RUNNING):
            self.stdout.write(
                f"{stopped.step_id} is {stopped.get_status_display().lower()} "
                f"({stopped.waiting_for or stopped.progress_message}); the worker carries on. "
                "Run again (with --wait to follow it) to continue."
            )
            sys.exit(EXIT_WAITING)
        self._print_failure(stopped)
        sys.exit(EXIT_FAILED)

    def _print_hand_back(self, tenant: Tenant) -> None:
        result = StepState.objects.get(tenant=tenant, step_id=_hand_back_step(tenant)).result
        for entry in result.get("done") or []:
            self.stdout.write(f"Done: {entry['what']}")
        for entry in result.get("manual") or []:
            self.stdout.write(f"Left to you: {entry['what']}. {entry['why']}\n  {entry['clicks']}")
            self.stdout.write("  " + entry["powershell"].replace("\n", "\n  "))
        self.stdout.write(result.get("reverify", ""))

    @staticmethod
    def _named_fields(
        tenant: Tenant, options: dict[str, Any]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """The run command's named options as the fields of the step forms they fill: (values, files) by step id."""
        data: dict[str, dict[str, Any]] = {}
        files: dict[str, dict[str, Any]] = {}
        if options["rooms_csv"] or options["all_rooms"]:
            source = "csv" if options["rooms_csv"] else "all"
            data["rooms"] = {"source": source, "include_equipment": options["include_equipment"]}
            if options["rooms_csv"]:
                files["rooms"] = {"csv_file": str(options["rooms_csv"])}
        if options["room_list_name"]:
            data["room_list"] = {"name": options["room_list_name"]}
        if options["service_account"]:
            local_part, _, domain = options["service_account"].partition("@")
            data["service_account"] = {"local_part": local_part, "domain": domain.lower()}
        if options["control_mailbox"]:
            data["verify"] = {"control_mailbox": options["control_mailbox"]}
        if options["webhook_url"]:
            data["activate"] = {"webhook_url": options["webhook_url"]}
        if options["reduce_access"]:
            data[_hand_back_step(tenant)] = {"confirm": True}
        return data, files

    @staticmethod
    def _add_form_pairs(into: dict[str, dict[str, Any]], option: str, pairs: list[str]) -> None:
        for pair in pairs:
            target, equals, value = pair.partition("=")
            step_id, dot, field = target.partition(".")
            if not (equals and dot and step_id and field):
                raise CommandError(f"{option} {pair}: write {option} STEP.FIELD=VALUE.")
            into.setdefault(step_id, {})[field] = value

    @staticmethod
    def _form_submissions(
        tenant: Tenant, data: dict[str, dict[str, Any]], files: dict[str, dict[str, str]]
    ) -> dict[str, dict[str, Any]]:
        """Each step given values, its form filled as its page would post it (the fields' initial values, then the
        values given) and checked by that same form: the cleaned data by step id, or a CommandError naming the
        field in the form's own words."""
        step_ids = [step.id for step in steps_of(tenant)]
        submissions: dict[str, dict[str, Any]] = {}
        for step_id in dict.fromkeys([*data, *files]):
            if step_id not in step_ids:
                raise CommandError(f"No step {step_id!r}; steps are {', '.join(step_ids)}.")
            step = step_of(tenant, step_id)
            if step.form is None:
                raise CommandError(f"The {step_id} step has no form: it takes no --set or --file.")
            state = StepState.objects.get(tenant=tenant, step_id=step_id)
            given = {**data.get(step_id, {}), **files.get(step_id, {})}
            blank = step.form(tenant=tenant, state=state)
            unknown = sorted(set(given) - set(blank.fields))
            if unknown:
                raise CommandError(
                    f"The {step_id} step's form has no field {unknown[0]!r}; its fields are {', '.join(blank.fields)}."
                )
            values = {name: blank[name].value() for name in blank.fields if blank[name].value() is not None}
            uploads = {}
            for name, path in files.get(step_id, {}).items():
                values.pop(name, None)
                try:
                    uploads[name] = SimpleUploadedFile(Path(path).name, Path(path).read_bytes())
                except OSError as error:
                    raise CommandError(f"Cannot read {path}: {error}") from error
            form = step.form({**values, **data.get(step_id, {})}, uploads, tenant=tenant, state=state)
            if not form.is_valid():
                problems = "; ".join(
                    f"{step_id}.{field}: {' '.join(errors)}" if field != "__all__" else f"{step_id}: {' '.join(errors)}"
                    for field, errors in form.errors.items()
                )
                raise CommandError(f"The {step_id} step's form refused it: {problems}")
            submissions[step_id] = form.cleaned_data
        return submissions

    def _place_new_rooms(self, tenant: Tenant, actor: str, *, confirmed: bool) -> None:
        """Check for drift, then hand the rooms it found in no list to the rooms step (as the drift panel does)."""
        check = self._drift_check(tenant, actor)
        if check.status != DriftCheckStatus.DONE:
            raise CommandError(f"The drift check could not run: {check.error_message}")
        addresses = list(presenters.drift_panel(tenant)["new_rooms"])
        if not addresses:
            raise CommandError("No new room: every room mailbox of the tenant is in a room list or was chosen before.")
        self.stdout.write(f"{len(addresses)} new room(s) in no list: {', '.join(addresses[:20])}")
        try:
            actions.place_new_rooms(tenant, actor, addresses, confirmed=confirmed)
        except StepError as refusal:
            raise CommandError(f"{refusal.message} {refusal.fix}") from refusal

    def _drift_check(self, tenant: Tenant, actor: str) -> DriftCheck:
        if tenant.status != TenantStatus.ACTIVE:
            raise CommandError(f"{tenant.slug} is not activated yet: drift is checked once every step is done.")
        return actions.check_drift(tenant, actor)

    def _drift(self, *, slug: str, as_json: bool, actor: str, **options: Any) -> None:
        check = self._drift_check(self._tenant(slug), actor)
        if as_json:
            self.stdout.write(
                _dumps(
                    {
                        "slug": slug,
                        "status": check.status,
                        "checked_at": check.finished_at,
                        "drifted": check.drifted,
                        "error": check.error_message,
                        "findings": check.findings,
                        "not_checked": check.not_checked,
                    }
                )
            )
        elif check.status == DriftCheckStatus.DONE:
            self.stdout.write(f"{slug}: {len(check.findings)} finding(s)" if check.drifted else f"{slug}: no drift.")
            for finding in check.findings:
                self.stdout.write(f"- {finding['kind']}: {finding['summary']}\n  Fix: {finding['fix']}")
            for reason in check.not_checked:
                self.stdout.write(f"- not checked: {reason}")
        if check.status != DriftCheckStatus.DONE:
            self.stderr.write(f"The drift check could not run: {check.error_message}")
            sys.exit(EXIT_FAILED)
        if check.drifted:
            sys.exit(EXIT_DRIFTED)

    @staticmethod
    def _confirmed_previews(tenant: Tenant) -> dict[str, dict[str, Any]]:
        """With --yes, a preview already waiting on a step is the one to apply, as the page's Confirm button
        applies it, unless the command line makes a new choice for that step (its inputs win)."""
        waiting = StepState.objects.filter(
            tenant=tenant,
            status=StepStatus.NEEDS_INPUT,
            step_id__in=[step.id for step in steps_of(tenant) if step.confirms_preview],
        )
        return {state.step_id: {**state.inputs, "confirmed": True} for state in waiting if "preview" in state.result}

    def _confirm(self, tenant: Tenant, state: StepState, yes: bool) -> bool:
        """Show the step's preview; apply it with --yes, or ask when a person is at the terminal."""
        if "preview" not in state.result:
            return False
        result = step_of(tenant, state.step_id).result_type.from_json(state.result)
        self.stdout.write("Rooms preview: " + ", ".join(f"{k} {v}" for k, v in result.preview_summary.items() if v))
        for row in result.preview:
            if row["status"] not in ("valid", "already_member"):
                self.stdout.write(f"  row {row['line']}: {row['address']}: {row['status']} {row['reason']}")
        if yes:
            return True
        if not sys.stdin.isatty():
            return False
        return input("Apply? [y/N] ").strip().lower() in ("y", "yes")

    # -- status and verify -----------------------------------------------------------------------------------------
    def _status(self, *, slug: str | None, as_json: bool, **options: Any) -> None:
        tenants = [self._tenant(slug)] if slug else list(Tenant.objects.order_by("slug"))
        if as_json:
            documents = [self._status_document(tenant) for tenant in tenants]
            self.stdout.write(_dumps(documents[0] if slug else {"tenants": documents}))
            return
        for tenant in tenants:
            self._print_status(tenant)

    def _verify(self, *, slug: str, step_id: str | None, actor: str, timeout: float, **options: Any) -> None:
        tenant = self._tenant(slug)
        if step_id:
            self._reverify(tenant, step_id, actor)
            return
        try:
            outcome = headless.run_steps(
                tenant,
                actor=actor,
                start="verify",
                until="verify",
                inputs={},
                wait_on_microsoft=True,
                on_update=self._print_update,
                timeout=timeout,
            )
        except actions.PrerequisiteNotDone as refusal:
            raise CommandError(str(refusal)) from refusal
        state = StepState.objects.get(tenant=tenant, step_id="verify")
        found = state.result if state.status == StepStatus.SUCCEEDED else state.error_detail.get("result", {})
        if found:
            result = VerifyResult.from_json(found)
            control = (
                "out of scope, as it must be"
                if result.control_out_of_scope
                else "REACHABLE: the integration opened its calendar, so the access is wider than the rooms"
            )
            self.stdout.write(
                f"Rooms: {result.rooms_passed} passed, {result.rooms_failed} failed; control "
                f"mailbox {result.control_mailbox} {control}."
            )
            for failure in result.failures:
                self.stdout.write(f"  {failure['address']}: {failure['reason']}")
            drift = result.drift
            if drift.unlisted_rooms or drift.gone_rooms:
                self.stdout.write(
                    f"Drift: {len(drift.unlisted_rooms)} room(s) in no list "
                    f"{', '.join(drift.unlisted_rooms[:20])}; {len(drift.gone_rooms)} gone "
                    f"{', '.join(drift.gone_rooms[:20])}."
                )
        if state.status != StepStatus.SUCCEEDED or (outcome.stopped_at and outcome.stopped_at.step_id == "verify"):
            self._print_failure(state)
            sys.exit(EXIT_FAILED)

    def _reverify(self, tenant: Tenant, step_id: str, actor: str) -> None:
        """Re-verify one step that has succeeded, in this process: its check alone, never its service."""
        try:
            step = step_of(tenant, step_id)
        except LookupError:
            known = ", ".join(known.id for known in steps_of(tenant))
            raise CommandError(f"No step {step_id!r}; steps are {known}.") from None
        try:
            state = actions.submit_step(tenant, step.id, actor, action="reverify", send_task=False)
        except ReverifyRefused as refusal:
            raise CommandError(str(refusal)) from refusal
        except IllegalTransition as error:
            raise CommandError(f"{step.title} is already queued or running; wait for it to finish.") from error
        state = actions.run_step_here(state)
        if state.status != StepStatus.SUCCEEDED:
            self._print_failure(state)
            sys.exit(EXIT_FAILED)
        self.stdout.write(self.style.SUCCESS(f"{step.title}: re-verified, it still holds."))

    def _confirm_step(
        self, *, slug: str, step_id: str, yes: bool, wait: bool, timeout: float, actor: str, **options: Any
    ) -> None:
        tenant = self._tenant(slug)
        try:
            step = step_of(tenant, step_id)
        except LookupError:
            known = ", ".join(known.id for known in steps_of(tenant))
            raise CommandError(f"No step {step_id!r}; steps are {known}.") from None
        if step.confirmation is None:
            raise CommandError(f"{step.title} is run by Onramp, not by you: use `onramp run --slug {slug}`.")
        state = selectors.states_of_every_step(tenant)[[s.id for s in steps_of(tenant)].index(step.id)]
        script = step.powershell(tenant, state)
        digest = step.confirmation.digest(tenant, state)
        self.stdout.write(f"# {step.title}: run this in {step.confirmation.shell}\n{script}\n")
        if not yes:
            if not sys.stdin.isatty():
                self.stderr.write("Pass --yes to confirm that you ran these commands.")
                sys.exit(EXIT_NEEDS_INPUT)
            if input("Did you run these commands? [y/N] ").strip().lower() not in ("y", "yes"):
                sys.exit(EXIT_NEEDS_INPUT)
        try:
            actions.confirm_step(tenant, step.id, actor, digest=digest)
        except StepError as error:
            raise CommandError(f"{error.message} {error.fix}") from error
        except actions.PrerequisiteNotDone as refusal:
            raise CommandError(str(refusal)) from refusal
        except IllegalTransition as error:
            raise CommandError(f"{step.title} is already queued or running; wait for it to finish.") from error
        self.stdout.write(f"Recorded that {actor} ran the commands of {step.title}; Onramp is checking them.")
        if wait:
            outcome = headless.run_steps(
                tenant,
                actor=actor,
                start=step.id,
                until=step.id,
                inputs={},
                wait_on_microsoft=True,
                on_update=self._print_update,
                timeout=timeout,
            )
            if outcome.stopped_at is not None:
                self._print_failure(outcome.stopped_at)
                sys.exit(EXIT_FAILED)

    # -- output ----------------------------------------------------------------------------------------------------
    def _tenant(self, slug: str) -> Tenant:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}; create it with `onramp connect --slug {slug} …`.")
        return tenant

    def _status_document(self, tenant: Tenant) -> dict[str, Any]:
        return {
            "slug": tenant.slug,
            "name": tenant.display_name,
            "status": tenant.status,
            "profile": tenant.profile,
            "microsoft_tenant_id": tenant.microsoft_tenant_id,
            "steps": [
                {
                    "id": state.step_id,
                    "status": state.status,
                    "attempts": state.attempts,
                    "progress": state.progress_percent,
                    "message": state.progress_message,
                    "error_code": state.error_code,
                    "error_message": state.error_message,
                    "finished_at": state.finished_at.isoformat() if state.finished_at else None,
                }
                for state in selectors.states_of_every_step(tenant)
            ],
        }

    def _print_status(self, tenant: Tenant) -> None:
        tenant.refresh_from_db()
        self.stdout.write(f"{tenant.slug} ({tenant.get_status_display()})")
        for state in selectors.states_of_every_step(tenant):
            note = state.error_message or state.waiting_for or ""
            self.stdout.write(f"  {state.step_id:<18} {state.status:<12} {note}")

    def _print_update(self, state: StepState) -> None:
        self.stdout.write(f"[{state.step_id}] {state.status} {state.progress_percent}% {state.progress_message}")

    def _print_failure(self, state: StepState) -> None:
        if state.status == StepStatus.INTERRUPTED:
            self.stderr.write(
                f"{state.step_id} was interrupted: its worker stopped while it ran, and Onramp already resumed it "
                f"{state.auto_resumes} time(s) by itself. Run `onramp run --slug {state.tenant.slug}` to resume it "
                "again; what was done is not repeated."
            )
            return
        self._print_error(f"{state.step_id} failed", state.error_code, state.error_message, state.error_detail or {})

    def _print_error(self, what: str, code: str, message: str, detail: dict[str, Any]) -> None:
        self.stderr.write(f"{what}: {code}: {message}")
        if detail.get("explanation"):
            self.stderr.write(f"  Why: {detail['explanation']}")
        if detail.get("fix"):
            self.stderr.write(f"  Fix: {detail['fix']}")
        if detail.get("request_id"):
            self.stderr.write(f"  Microsoft request id: {detail['request_id']}")


def _hand_back_step(tenant: Tenant) -> str:
    """The profile's optional last step, "Reduce Onramp's access", which only --reduce-access runs."""
    optional = [step.id for step in steps_of(tenant) if step.optional]
    if not optional:
        raise CommandError(f"{tenant.slug}'s profile has no step that hands Onramp's access back.")
    return optional[-1]


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)
