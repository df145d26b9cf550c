"""Optional last step: hand Onramp's power back once the organisation is activated.

Connected with Microsoft, Onramp's own app acted with the administrator's sign-in and holds only its delegated grant:
the step deletes that grant with the sign-in while it stands, then erases the sign-in. With the organisation's own
app registration, what Onramp's connector app can undo itself, it does; the rest it names with the exact clicks and
PowerShell:
- its certificate: Graph's application removeKey lets an app remove its own key with no permission, given a proof of
  possession signed by a current key of the app (Graph docs: "An application does not need any specific permission
  to roll its own keys");
- its client secret: removePassword needs Application.ReadWrite.OwnedBy (or .All), which Onramp never asks for, so
  the admin deletes it;
- the Exchange Administrator role and User.ReadWrite.All: removing a directory role assignment needs
  RoleManagement.ReadWrite.Directory and removing an app role assignment AppRoleAssignment.ReadWrite.All, grants far
  wider than the ones they would remove, so the admin removes them.
Onramp then erases its own copy of the credential, the token cache and the administrator's kept sign-in, and records
each action in the audit trail. Onramp's delegated grant (the oauth2PermissionGrant an administrator's sign-in to
Onramp's app left: User.Read, and RoleManagement.Read.Directory if asked) it deletes with that sign-in while it stands
and the organisation consented to DelegatedPermissionGrant.ReadWrite.All (Graph: "Delete oAuth2PermissionGrant",
one of the delegated permissions Onramp's app registration lists); otherwise the admin is told which grant to remove
and where.
Afterwards verify and re-verify cannot sign in: they say "re-verify needs access granted again"
(wizard.microsoft.auth). The organisation counts as activated with or without this step."""

import json
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from tenants.models import SecretKind, Tenant
from tenants.secrets import erase_secret, read_secret
from wizard.audit import record_event
from wizard.errors import StepError
from wizard.microsoft import key_proof
from wizard.microsoft.errors import MicrosoftError
from wizard.outcomes import Done, Outcome, StepContext
from wizard.powershell import quote
from wizard.services import admin_sign_in
from wizard.services.connector import REDUCE_ACCESS_STEP, connector_clients

STEP_ID = REDUCE_ACCESS_STEP
# Microsoft Graph permissions reference: the application permission's app role id.
USER_READWRITE_ALL_ROLE_ID = "741f803b-c850-494e-b5df-cde7c675a1ca"
EXCHANGE_ADMIN_ROLE = "Exchange Administrator"


def credential_kind(tenant: Tenant) -> str:
    """ "certificate", "secret" or "" (Onramp's own multi-tenant app, whose secret is the installation's)."""
    if read_secret(tenant, SecretKind.CLIENT_CERTIFICATE):
        return "certificate"
    return "secret" if read_secret(tenant, SecretKind.CLIENT_SECRET) else ""


def plan(tenant: Tenant) -> list[dict[str, str]]:
    """What the step undoes and who does it ("onramp" or "admin"), for the page before it runs (in the language of
    the person reading it)."""
    kind = credential_kind(tenant)
    if not kind:
        # Onramp's own app acted with the administrator's sign-in: its only grant is the delegated one.
        return [
            {
                "what": _("Onramp's delegated grant in your organisation (else the page says where to remove it)"),
                "by": "onramp",
            },
            {"what": _("The administrator's sign-in Onramp keeps, and its token cache"), "by": "onramp"},
        ]
    return [
        {"what": _("The {role} role of Onramp's app").format(role=EXCHANGE_ADMIN_ROLE), "by": "admin"},
        {"what": _("The Microsoft Graph permission User.ReadWrite.All of Onramp's app"), "by": "admin"},
        {
            "what": {
                "certificate": _("The certificate Onramp signs in with (removed from the app registration)"),
                "secret": _("The client secret Onramp signs in with (deleted in the app registration)"),
                "": _("Onramp's enterprise application in your organisation"),
            }[kind],
            "by": "onramp" if kind == "certificate" else "admin",
        },
        *(
            [
                {
                    "what": _("Onramp's delegated grant from the administrator's sign-in (else the page says where)"),
                    "by": "onramp",
                }
            ]
            if admin_sign_in.kept_sign_in(tenant)
            else []
        ),
        {
            "what": _("Onramp's stored copy of the credential, its token cache and the administrator's sign-in"),
            "by": "onramp",
        },
    ]


def perform(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    if not ctx.inputs.get("confirm"):
        raise StepError(
            code="confirmation_needed",
            message=gettext_noop("Reducing Onramp's access needs your go-ahead."),
            explanation=gettext_noop(
                "Onramp deletes its own credential: afterwards verify and re-verify need access granted again."
            ),
            fix=gettext_noop(
                "Tick the confirmation on this page (or run onramp run --reduce-access) to hand the access back."
            ),
        )
    app_id = tenant.client_id or settings.ONRAMP_CONNECTOR_CLIENT_ID
    kind = credential_kind(tenant)
    certificate = json.loads(read_secret(tenant, SecretKind.CLIENT_CERTIFICATE) or "{}")
    secret = read_secret(tenant, SecretKind.CLIENT_SECRET) or ""
    done: list[dict[str, str]] = []
    ctx.progress(10, "Reading Onramp's app registration and its grants")
    with connector_clients(tenant) as ms:
        sp = ms.graph.get(f"/servicePrincipals(appId='{app_id}')")
        manual = []
        if kind:
            assignments = ms.graph.get_all(f"/servicePrincipals/{sp['id']}/appRoleAssignments")
            application = ms.graph.get(f"/applications(appId='{app_id}')")
            manual = [_role_instruction(app_id, sp["id"]), _permission_instruction(app_id, sp["id"], assignments)]
        if kind == "certificate":
            ctx.progress(60, "Removing the certificate Onramp signs in with from its app registration")
            removed = _remove_certificate(ms.graph, application, certificate)
            if removed is None:
                done.append({"what": f"Removed the certificate {certificate['thumbprint']} from the app registration"})
            else:
                manual.append(_certificate_instruction(app_id, application, certificate, removed))
        elif kind == "secret":
            manual.append(_secret_instruction(app_id, application, secret))
    ctx.progress(80, "Removing Onramp's delegated grant with the administrator's sign-in")
    grant_removed = _remove_delegated_grants(tenant, app_id, sp["id"])
    if grant_removed is True:
        done.append({"what": "Removed Onramp's delegated permission grant (oauth2PermissionGrant) in the tenant"})
    elif grant_removed:
        manual.append(_delegated_grant_instruction(app_id, sp["id"], grant_removed))
    if not kind and manual:
        manual.append(_enterprise_app_instruction(app_id, sp["id"]))
    with transaction.atomic():
        for what in done:
            record_event(tenant, ctx.actor, "remove_certificate", "succeeded", STEP_ID, what)
        erased = [
            kind_ for kind_ in (SecretKind.CLIENT_CERTIFICATE, SecretKind.CLIENT_SECRET) if erase_secret(tenant, kind_)
        ]
        erase_secret(tenant, SecretKind.TOKEN_CACHE)
        if admin_sign_in.forget(tenant):
            erased.append(SecretKind.ADMIN_SIGN_IN)
        record_event(tenant, ctx.actor, "erase_connector_credential", "succeeded", STEP_ID, {"kinds": erased})
        if grant_removed is True:
            record_event(tenant, ctx.actor, "remove_delegated_grant", "succeeded", STEP_ID, {"client_id": sp["id"]})
        for instruction in manual:
            record_event(tenant, ctx.actor, "hand_back", "left_to_admin", STEP_ID, {"what": instruction["what"]})
    done.append({"what": "Erased Onramp's copy of the credential, its token cache and the administrator's sign-in"})
    return Done(
        {
            "credential": kind,
            "done": done,
            "manual": manual,
            "still_can": still_can(kind, left_to_admin=bool(manual)),
            "reverify": "Re-verify needs access granted again: Onramp no longer holds a credential for this "
            "organisation.",
        }
    )


def still_can(kind: str, *, left_to_admin: bool) -> str:
    """What Onramp can still do in the organisation's tenant after this step, in plain words (in the active
    language: the reader's on the page, English in the result the worker saves)."""
    words = _(
        "Onramp now holds no credential, no token and no sign-in for this organisation: it cannot sign in to your "
        "tenant, so it can neither read nor change anything there, and verify, re-verify and the nightly drift check "
        "stop. To have the nightly drift check again, connect your own app registration on step 0: read-only "
        "permissions are enough, as the check only reads."
    )
    if not left_to_admin:
        return words
    if kind:
        return _(
            "{words} Until you do what is left to you below, your app registration keeps its grants: anyone who "
            "holds one of its other secrets or certificates could still use them."
        ).format(words=words)
    return _(
        "{words} Until you remove Onramp's delegated grant or its enterprise application as shown below, Onramp's "
        "app keeps its consent in your tenant: it acts only with an administrator's sign-in, and Onramp no longer "
        "keeps one."
    ).format(words=words)


def _remove_delegated_grants(tenant: Tenant, app_id: str, sp_id: str) -> bool | str:
    """Delete the delegated permission grants of Onramp's app (by its service principal) with the kept
    administrator's sign-in: True when deleted, "" when there is no kept sign-in and no grant to name, else why not
    (for the instruction)."""
    if app_id.lower() != settings.ONRAMP_CONNECTOR_CLIENT_ID.lower():
        return ""  # the organisation's own app registration: no sign-in to it ever left a grant
    try:
        tokens = admin_sign_in.delegated_tokens(tenant)
    except StepError as error:
        return error.message
    if tokens is None:
        return "Onramp holds no administrator's sign-in to remove it with"
    try:
        with admin_sign_in.keeping(tenant, tokens):
            tokens.refresh()  # the sign-in stands now, and its token carries what the organisation consents to now
            listed = tokens.graph("GET", f"/oauth2PermissionGrants?$filter=clientId eq '{sp_id}'")
            if listed.status_code != 200:
                return _refusal(listed)
            for grant in listed.json().get("value", []):
                deleted = tokens.graph("DELETE", f"/oauth2PermissionGrants/{grant['id']}")
                if deleted.status_code not in (204, 404):
                    return _refusal(deleted)
    except MicrosoftError as error:  # the sign-in no longer stands (SignInAgainNeeded) or Microsoft is unreachable
        return f"{error.code}: {error.message}"
    return True


def _refusal(response) -> str:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    return f"Microsoft Graph answered {response.status_code} {error.get('code', '')}: {error.get('message', '')}"


def _delegated_grant_instruction(app_id: str, sp_id: str, reason: str) -> dict[str, str]:
    client_filter = f"clientId eq '{sp_id}'"
    return {
        "what": "Remove Onramp's delegated permission grant",
        "why": f"Onramp could not remove it itself ({reason}). Deleting a delegated grant needs "
        "DelegatedPermissionGrant.ReadWrite.All, which Onramp does not ask for; Onramp has erased the sign-in it "
        "kept.",
        "clicks": f"Entra admin center → Enterprise applications → the app {app_id} → Permissions → Admin consent "
        "and User consent tabs → each Microsoft Graph permission → … → Revoke permission (deleting the enterprise "
        "application removes it too).",
        "powershell": "Connect-MgGraph -Scopes DelegatedPermissionGrant.ReadWrite.All\n"
        f"Get-MgOauth2PermissionGrant -Filter {quote(client_filter)} |\n"
        "    ForEach-Object { Remove-MgOauth2PermissionGrant -OAuth2PermissionGrantId $_.Id }",
    }


def _remove_certificate(graph, application: dict[str, Any], certificate: dict[str, str]) -> str | None:
    """None when Graph removed the key, else why not."""
    key_id = _key_id(application, certificate)
    if not key_id:
        return "the app registration lists no certificate with this thumbprint"
    try:
        graph.post(
            f"/applications/{application['id']}/removeKey",
            json={"keyId": key_id, "proof": key_proof(certificate, application["id"])},
        )
    except MicrosoftError as error:
        return f"{error.code}: {error.message}"
    return None


def _key_id(application: dict[str, Any], certificate: dict[str, str]) -> str:
    return next(
        (
            key["keyId"]
            for key in application.get("keyCredentials") or []
            if str(key.get("customKeyIdentifier") or "").upper() == certificate["thumbprint"]
        ),
        "",
    )


def _role_instruction(app_id: str, sp_id: str) -> dict[str, str]:
    role_filter = f"displayName eq '{EXCHANGE_ADMIN_ROLE}'"
    principal_filter = f"principalId eq '{sp_id}'"
    return {
        "what": f"Remove the {EXCHANGE_ADMIN_ROLE} role from Onramp's app",
        "why": "An app cannot remove its own directory role without RoleManagement.ReadWrite.Directory, a wider "
        "grant than the role itself.",
        "clicks": f"Entra admin center → Identity → Roles & admins → {EXCHANGE_ADMIN_ROLE} → Assignments → select "
        f"the app {app_id} → Remove assignment.",
        "powershell": "Connect-MgGraph -Scopes RoleManagement.ReadWrite.Directory\n"
        f"$role = Get-MgRoleManagementDirectoryRoleDefinition -Filter {quote(role_filter)}\n"
        f"Get-MgRoleManagementDirectoryRoleAssignment -Filter {quote(principal_filter)} |\n"
        "    Where-Object RoleDefinitionId -eq $role.Id |\n"
        "    ForEach-Object { Remove-MgRoleManagementDirectoryRoleAssignment -UnifiedRoleAssignmentId $_.Id }",
    }


def _permission_instruction(app_id: str, sp_id: str, assignments: list[dict[str, Any]]) -> dict[str, str]:
    assignment = next((a["id"] for a in assignments if a.get("appRoleId") == USER_READWRITE_ALL_ROLE_ID), "")
    return {
        "what": "Remove the Microsoft Graph permission User.ReadWrite.All from Onramp's app",
        "why": "Removing an app role assignment needs AppRoleAssignment.ReadWrite.All, a wider grant than the "
        "permission itself.",
        "clicks": f"Entra admin center → Enterprise applications → the app {app_id} → Permissions → "
        "User.ReadWrite.All → … → Revoke permission (and remove it under App registrations → API permissions, so "
        "a later consent does not grant it again).",
        "powershell": "Connect-MgGraph -Scopes AppRoleAssignment.ReadWrite.All\n"
        f"Remove-MgServicePrincipalAppRoleAssignment -ServicePrincipalId {quote(sp_id)} -AppRoleAssignmentId "
        f"{quote(assignment or '<the User.ReadWrite.All assignment id>')}",
    }


def _secret_instruction(app_id: str, application: dict[str, Any], secret: str) -> dict[str, str]:
    hints = [p for p in application.get("passwordCredentials") or [] if secret.startswith(str(p.get("hint") or "-"))]
    key_id = hints[0]["keyId"] if len(hints) == 1 else "<the secret's ID>"
    return {
        "what": "Delete the client secret Onramp signed in with",
        "why": "Deleting a secret (removePassword) needs Application.ReadWrite.OwnedBy, which Onramp does not ask "
        "for; Onramp has erased its own copy.",
        "clicks": f"Entra admin center → App registrations → the app {app_id} → Certificates & secrets → Client "
        f"secrets → the secret starting with “{secret[:3]}” → Delete.",
        "powershell": "Connect-MgGraph -Scopes Application.ReadWrite.All\n"
        f"Remove-MgApplicationPassword -ApplicationId {quote(application.get('id', '<application object id>'))} "
        f"-KeyId {quote(key_id)}",
    }


def _certificate_instruction(
    app_id: str, application: dict[str, Any], certificate: dict[str, str], reason: str
) -> dict[str, str]:
    return {
        "what": "Delete the certificate Onramp signed in with",
        "why": f"Onramp could not remove it itself ({reason}); Onramp has erased its own copy of the private key.",
        "clicks": f"Entra admin center → App registrations → the app {app_id} → Certificates & secrets → "
        f"Certificates → thumbprint {certificate['thumbprint']} → Delete.",
        "powershell": "Connect-MgGraph -Scopes Application.ReadWrite.All\n"
        f"$app = Get-MgApplication -ApplicationId {quote(application.get('id', '<application object id>'))}\n"
        "Update-MgApplication -ApplicationId $app.Id -KeyCredentials @($app.KeyCredentials | Where-Object "
        f"CustomKeyIdentifier -ne {quote(certificate['thumbprint'])})",
    }


def _enterprise_app_instruction(app_id: str, sp_id: str) -> dict[str, str]:
    return {
        "what": "Remove Onramp's enterprise application from your organisation",
        "why": "You consented to Onramp's own multi-tenant app: its secret is Onramp's, and removing the app from "
        "your organisation takes back every grant at once.",
        "clicks": f"Entra admin center → Enterprise applications → the app {app_id} → Properties → Delete.",
        "powershell": f"Connect-MgGraph -Scopes Application.ReadWrite.All\nRemove-MgServicePrincipal "
        f"-ServicePrincipalId {quote(sp_id)}",
    }
