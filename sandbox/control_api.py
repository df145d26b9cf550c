"""The sandbox-only control endpoint (`/_sandbox/...`): inspect state, change knobs, act as the admin.

No authentication: it listens on loopback only and exists for tests, benchmarks and demos.
"""

from __future__ import annotations

import uuid
from typing import Any

from . import exchange, shell
from .responses import Request, Response
from .state import (
    EXCHANGE_ADMIN_ROLE,
    EXCHANGE_APP_ID,
    GRAPH_APP_ID,
    GRAPH_AUDIENCE,
    EntraServicePrincipal,
    Tenant,
    User,
)


def _error(status: int, message: str) -> Response:
    return Response.json(status, {"error": message})


def _permissions(tenant: Tenant, body: dict[str, Any]) -> Response:
    """Grant or revoke an app role (on Graph, or on `resource`: "exchange" for Office 365 Exchange Online; unnamed,
    Graph first) or the Exchange Administrator directory role."""
    app_id = body.get("app_id", tenant.identity.connector_app_id)
    resource = {"graph": GRAPH_APP_ID, "exchange": EXCHANGE_APP_ID}.get(str(body.get("resource") or "").lower())
    if app_id not in tenant.entra_sps:
        return _error(404, f"unknown app {app_id}")
    for action in ("add", "remove"):
        for permission in body.get(action) or []:
            if permission == EXCHANGE_ADMIN_ROLE:
                roles = tenant.directory_roles.setdefault(app_id, set())
                if action == "add":
                    roles.add(permission)
                else:
                    roles.discard(permission)
                continue
            try:
                if action == "add":
                    tenant.grant_app_role(app_id, permission, resource)
                else:
                    tenant.revoke_app_role(app_id, permission, resource)
            except KeyError as err:
                return _error(400, str(err))
    return Response.json(
        200,
        {
            "app_roles": sorted(tenant.app_roles(app_id, GRAPH_APP_ID)),
            "exchange_app_roles": sorted(tenant.app_roles(app_id, EXCHANGE_APP_ID)),
            "directory_roles": sorted(tenant.directory_roles.get(app_id, ())),
        },
    )


def _add_mailbox(tenant: Tenant, body: dict[str, Any]) -> Response:
    kind = body.get("kind", "room")
    if kind not in ("room", "equipment", "user"):
        return _error(400, "kind must be room, equipment or user")
    nick = body.get("alias") or f"{kind}-{uuid.uuid4().hex[:8]}"
    upn = f"{nick}@{tenant.domain}"
    if tenant.user_by_key(upn):
        return _error(409, f"{upn} exists")
    now = tenant.now()
    user = User(
        id=str(uuid.uuid4()),
        upn=upn,
        display_name=body.get("display_name") or nick,
        mail_nickname=nick,
        kind=kind,
        created_at=now - 86400,
        account_enabled=kind == "user",
        usage_location="US",
        usage_location_at=now - 86400,
        mailbox_at=now - 86400,
        building=body.get("building"),
        floor=body.get("floor"),
        capacity=body.get("capacity"),
        exchange_guid=str(uuid.uuid4()),
    )
    tenant.users[user.id] = user
    return Response.json(201, {"id": user.id, "userPrincipalName": upn})


def _remove_mailbox(tenant: Tenant, body: dict[str, Any]) -> Response:
    user = tenant.user_by_key(str(body.get("address", "")))
    if user is None:
        return _error(404, "no such mailbox")
    del tenant.users[user.id]
    for group in tenant.groups.values():
        group.members = [m for m in group.members if m != user.id]
        group.managed_by = [m for m in group.managed_by if m != user.id]
    return Response(204)


def _person_and_list(tenant: Tenant, body: dict[str, Any], key: str) -> tuple[User, list[str]] | Response:
    """The person `body["user"]` names (UPN or id) and the list of ids `body[key]`, or the error answer."""
    user = tenant.user_by_key(str(body.get("user", "")))
    if user is None:
        return _error(404, "no such user")
    values = body.get(key)
    if not isinstance(values, list):
        return _error(400, f"{key} must be a list of ids")
    return user, [str(value) for value in values]


def handle(tenant: Tenant, req: Request) -> Response:
    action = req.path[len("/_sandbox") :].strip("/")
    try:
        body = req.json() if req.body else {}
    except ValueError:
        return _error(400, "body must be JSON")
    if req.method == "GET" and action == "state":
        return Response.json(200, tenant.snapshot())
    if req.method == "GET" and action == "calls":
        return Response.json(200, tenant.calls.snapshot())
    if req.method == "GET" and action == "knobs":
        return Response.json(200, tenant.knobs.as_dict())
    if req.method != "POST":
        return _error(404, f"no control action {req.method} {action}")
    if action == "calls/reset":
        tenant.calls.reset()
        return Response(204)
    if action == "knobs":
        try:
            tenant.set_knobs(body)
        except (KeyError, ValueError) as err:
            return _error(400, str(err))
        return Response.json(200, tenant.knobs.as_dict())
    if action == "reset":
        with tenant.lock:
            try:
                tenant.knobs.update(body)
            except (KeyError, ValueError) as err:
                return _error(400, str(err))
            tenant.clock_offset = 0.0
            tenant.seed()
        tenant.calls.reset()
        return Response(204)
    if action == "invoke":
        return exchange.run_as_admin(tenant, str(body.get("CmdletName", "")), body.get("Parameters") or {})
    if action == "script":
        return shell.run_script(tenant, body)
    if action == "advance":
        with tenant.lock:
            tenant.clock_offset += float(body.get("seconds", 0))
        return Response(204)
    with tenant.lock:
        if action == "permissions":
            return _permissions(tenant, body)
        if action == "mailboxes":
            return _add_mailbox(tenant, body)
        if action == "mailboxes/remove":
            return _remove_mailbox(tenant, body)
        if action == "consent/remove":
            app_id = str(body.get("app_id", tenant.identity.connector_app_id))
            if "scopes" in body:
                # An administrator taking some scopes out of the organisation's consent (Graph's oauth2PermissionGrant
                # update of `scope`).
                for (client, _, _), scopes in tenant.delegated_grants.items():
                    if client == app_id:
                        scopes.difference_update(str(scope) for scope in body["scopes"])
            else:
                tenant.remove_delegated_consent(app_id)
            return Response(204)
        if action == "consent/grant":
            # An administrator's consent for the organisation to Microsoft Graph scopes of an app, given elsewhere.
            tenant.consent(str(body["app_id"]), "AllPrincipals", GRAPH_AUDIENCE, {str(s) for s in body["scopes"]})
            return Response(204)
        if action == "service-principals":
            # A multi-tenant app published elsewhere, consented to from its vendor's portal: a service principal here.
            app_id = str(body["app_id"])
            tenant.entra_sps.setdefault(
                app_id,
                EntraServicePrincipal(tenant.object_id(f"sp:{app_id}"), app_id, str(body["display_name"])),
            )
            return Response(204)
        if action in ("memberships", "people/roles"):
            # A person's Entra groups (the `groups` claim and Graph read them), or their active directory roles
            # (template ids: sign-in, Graph and Exchange read them), set to exactly the list given.
            found = _person_and_list(tenant, body, "groups" if action == "memberships" else "roles")
            if isinstance(found, Response):
                return found
            user, values = found
            if action == "memberships":
                tenant.entra_group_members[user.id] = set(values)
            else:
                user.directory_roles = values
            return Response(204)
    return _error(404, f"no control action POST {action}")
