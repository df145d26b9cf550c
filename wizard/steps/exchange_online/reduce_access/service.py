"""Optional last step: hand Onramp's power back once the organisation is activated.

What Onramp's connector app can undo itself, it does; the rest it names with the exact clicks and PowerShell:
- its certificate: Graph's application removeKey lets an app remove its own key with no permission, given a proof of
  possession signed by a current key of the app (Graph docs: "An application does not need any specific permission
  to roll its own keys");
- its client secret: removePassword needs Application.ReadWrite.OwnedBy (or .All), which Onramp never asks for, so
  the admin deletes it;
- the Exchange Administrator role and User.ReadWrite.All: removing a directory role assignment needs
  RoleManagement.ReadWrite.Directory and removing an app role assignment AppRoleAssignment.ReadWrite.All, grants far
  wider than the ones they would remove, so the admin removes them.
Onramp then erases its own copy of the credential and the token cache, and records each action in the audit trail.
Afterwards verify and re-verify cannot sign in: they say "re-verify needs access granted again"
(wizard.microsoft.auth). The organisation counts as activated with or without this step."""

import json
from typing import Any

from django.conf import settings
from django.db import transaction

from tenants.models import SecretKind, Tenant
from tenants.secrets import erase_secret, read_secret
from wizard.audit import record_event
from wizard.errors import StepError
from wizard.microsoft import key_proof
from wizard.microsoft.errors import MicrosoftError
from wizard.outcomes import Done, Outcome, StepContext
from wizard.powershell import quote
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
    """What the step undoes and who does it ("onramp" or "admin"), for the page before it runs."""
    kind = credential_kind(tenant)
    return [
        {"what": f"The {EXCHANGE_ADMIN_ROLE} role of Onramp's app", "by": "admin"},
        {"what": "The Microsoft Graph permission User.ReadWrite.All of Onramp's app", "by": "admin"},
        {
            "what": {
                "certificate": "The certificate Onramp signs in with (removed from the app registration)",
                "secret": "The client secret Onramp signs in with (deleted in the app registration)",
                "": "Onramp's enterprise application in your organisation",
            }[kind],
            "by": "onramp" if kind == "certificate" else "admin",
        },
        {"what": "Onramp's stored copy of the credential and its token cache", "by": "onramp"},
    ]


def perform(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    if not ctx.inputs.get("confirm"):
        raise StepError(
            code="confirmation_needed",
            message="Reducing Onramp's access needs your go-ahead.",
            explanation="Onramp deletes its own credential: afterwards verify and re-verify need access granted again.",
            fix="Tick the confirmation on this page (or run onramp run --reduce-access) to hand the access back.",
        )
    app_id = tenant.client_id or settings.ONRAMP_CONNECTOR_CLIENT_ID
    kind = credential_kind(tenant)
    certificate = json.loads(read_secret(tenant, SecretKind.CLIENT_CERTIFICATE) or "{}")
    secret = read_secret(tenant, SecretKind.CLIENT_SECRET) or ""
    done: list[dict[str, str]] = []
    ctx.progress(10, "Reading Onramp's app registration and its grants")
    with connector_clients(tenant) as ms:
        sp = ms.graph.get(f"/servicePrincipals(appId='{app_id}')")
        assignments = ms.graph.get_all(f"/servicePrincipals/{sp['id']}/appRoleAssignments")
        application = ms.graph.get(f"/applications(appId='{app_id}')") if kind else {}
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
        else:
            manual.append(_enterprise_app_instruction(app_id, sp["id"]))
    with transaction.atomic():
        for what in done:
            record_event(tenant, ctx.actor, "remove_certificate", "succeeded", STEP_ID, what)
        erased = [
            kind_ for kind_ in (SecretKind.CLIENT_CERTIFICATE, SecretKind.CLIENT_SECRET) if erase_secret(tenant, kind_)
        ]
        erase_secret(tenant, SecretKind.TOKEN_CACHE)
        record_event(tenant, ctx.actor, "erase_connector_credential", "succeeded", STEP_ID, {"kinds": erased})
        for instruction in manual:
            record_event(tenant, ctx.actor, "hand_back", "left_to_admin", STEP_ID, {"what": instruction["what"]})
    done.append({"what": "Erased Onramp's stored copy of the credential and its token cache"})
    return Done(
        {
            "credential": kind,
            "done": done,
            "manual": manual,
            "reverify": "Re-verify needs access granted again: Onramp no longer holds a credential for this "
            "organisation.",
        }
    )


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
