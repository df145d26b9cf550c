"""Sign-in pages (password and Microsoft), invitations, and an organisation's members page. tenants.access decides
who may do what; wizard.people acts."""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenants import access
from tenants.forms import InvitationForm, MemberRoleForm
from tenants.models import Invitation, Membership, Role, Tenant
from wizard.microsoft import signin
from wizard.people import actions as people

log = logging.getLogger(__name__)

FLOW_SESSION_KEY = "onramp_signin_flow"
NEXT_SESSION_KEY = "onramp_signin_next"
INVITATION_SESSION_KEY = "onramp_invitation"
MICROSOFT_ADDRESSES_SESSION_KEY = "onramp_microsoft_addresses"
# Set while the second sign-in, the one that asks for the scope reading directory roles, is under way.
ROLES_ROUND_SESSION_KEY = "onramp_signin_roles_round"
BACKEND = "django.contrib.auth.backends.ModelBackend"


@method_decorator(login_not_required, name="dispatch")
class SignInView(LoginView):
    """Username and password (when ONRAMP_PASSWORD_SIGNIN is on) and "Sign in with Microsoft" (when an Entra app
    is configured)."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        context["password_signin"] = settings.ONRAMP_PASSWORD_SIGNIN
        context["microsoft_signin"] = signin.configured_app() is not None
        return context

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not settings.ONRAMP_PASSWORD_SIGNIN:
            return render(request, "registration/signin_refused.html", {"reason": _PASSWORD_OFF}, status=403)
        return super().post(request, *args, **kwargs)


_PASSWORD_OFF = "Sign-in with a username and password is turned off here. Sign in with Microsoft."


def _safe_next(request: HttpRequest, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(value, {request.get_host()}, require_https=request.is_secure()):
        return value
    return ""


@login_not_required
@require_GET
def microsoft_start(request: HttpRequest) -> HttpResponse:
    app = signin.configured_app()
    if app is None:
        raise Http404("Sign in with Microsoft is not configured")
    try:
        flow = signin.begin(app, request.build_absolute_uri(reverse("people:microsoft_callback")))
    except signin.SignInRefused as refusal:
        return render(request, "registration/signin_refused.html", {"reason": str(refusal)}, status=502)
    request.session[FLOW_SESSION_KEY] = flow
    request.session[NEXT_SESSION_KEY] = _safe_next(request, request.GET.get("next"))
    return redirect(flow["auth_uri"])


@login_not_required
@require_GET
def microsoft_callback(request: HttpRequest) -> HttpResponse:
    app = signin.configured_app()
    if app is None:
        raise Http404("Sign in with Microsoft is not configured")
    flow = request.session.pop(FLOW_SESSION_KEY, None) or {}  # one answer per sign-in started here
    next_url = request.session.pop(NEXT_SESSION_KEY, "")
    roles_round = request.session.pop(ROLES_ROUND_SESSION_KEY, False)
    try:
        person = signin.complete(app, flow, request.GET.dict(), groups_asked=people.support_groups())
    except signin.SignInRefused as refusal:
        reason = str(refusal)
        if roles_round:
            log.warning("sign-in app could not read directory roles: %s", reason)
            reason = f"{_ROLES_REFUSED} ({reason}) {_ROLES_FIX}"
        return render(request, "registration/signin_refused.html", {"reason": reason}, status=403)
    if (
        person.roles_unknown_because == signin.ROLES_NOT_READABLE
        and not roles_round
        and access.tenants_bound_to(person.tid).exists()
    ):
        # The person holds directory roles Microsoft did not name: sign in once more, asking for the scope that
        # reads them (an administrator consents; Microsoft signs the same person in without asking again).
        return _sign_in_again_for_roles(request, app, person, next_url)
    user = people.user_for_microsoft_person(person)
    addresses = people.microsoft_addresses(person)
    invitation_token = request.session.pop(INVITATION_SESSION_KEY, None)
    invitation = _usable_invitation(invitation_token)
    joined = people.join_as_admin_where_allowed(user, person)
    invited_here = invitation is not None and people.is_addressed_to(invitation, addresses)
    # A person invited by address gets in to see and accept the invitation, even before they are a member.
    if not invited_here and not access.may_sign_in(user, person.tid):
        bound = access.tenants_bound_to(person.tid).first()
        reason = (
            f"You signed in as {person.username}, but you are not a member of {bound.display_name} in Onramp. "
            "Only your organisation's Global Administrators and Exchange Administrators join on their own; "
            "anyone else needs an invitation from one of its Onramp admins."
        )
        if person.roles_known:
            reason += (
                " A role that is only eligible in Privileged Identity Management counts once it is active: activate "
                "it and sign in again."
            )
        else:
            # Not "you are no admin": Microsoft did not say. The installation's operator can fix it for everyone.
            log.warning(
                "sign-in of %s carried no wids claim and Graph did not name the roles (%s): set groupMembershipClaims "
                "on the sign-in app",
                person.tid,
                person.roles_unknown_because,
            )
            reason += f" {_ROLES_UNKNOWN} {_ROLES_FIX}"
        if invitation is not None:
            try:
                people.check_addressed_to(invitation, user, addresses)
            except people.InvitationForSomeoneElse as refusal:
                reason = str(refusal)
        return render(request, "registration/signin_refused.html", {"reason": reason, "person": person}, status=403)
    login(request, user, backend=BACKEND)
    request.session[MICROSOFT_ADDRESSES_SESSION_KEY] = sorted(addresses)
    if joined:
        messages.info(request, joined_by_directory_role(joined, access.admin_roles_held(person.wids)))
    if access.is_support_tenant(person.tid) and not person.groups_known:
        messages.warning(request, _SUPPORT_GROUPS_UNKNOWN)
    if invitation_token:
        # Back to the link: the person sees what they are joining and accepts it there (or reads why they may not).
        return redirect("people:invitation", token=invitation_token)
    if len(joined) == 1:
        return redirect("wizard:resume", slug=joined[0].slug)
    if next_url:
        return redirect(next_url)
    tenants = list(access.visible_tenants(user)[:2])
    if len(tenants) == 1 and not access.is_support(user):
        return redirect("wizard:resume", slug=tenants[0].slug)
    return redirect(settings.LOGIN_REDIRECT_URL)


_SUPPORT_GROUPS_UNKNOWN = (
    "You are not signed in as support: you are in more groups than Microsoft lists in a sign-in (200), and Onramp "
    "could not ask Microsoft Graph whether you are in the support group. Tell this Onramp's operator: its sign-in app "
    "needs the delegated Microsoft Graph permission User.Read."
)
_ROLES_UNKNOWN = (
    "Microsoft did not tell Onramp which administrator roles you hold, and Onramp could not read them through "
    "Microsoft Graph."
)
_ROLES_REFUSED = "Onramp asked Microsoft to read which administrator roles you hold, and Microsoft refused"
_ROLES_FIX = (
    "Tell this Onramp's operator: its sign-in app's manifest must set groupMembershipClaims to “DirectoryRole”, or a "
    "Global Administrator of your organisation must grant admin consent to the app's delegated Microsoft Graph "
    "permission RoleManagement.Read.Directory. If your role is eligible in Privileged Identity Management, activate "
    "it and sign in again."
)


def _sign_in_again_for_roles(
    request: HttpRequest, app: signin.SignInApp, person: signin.MicrosoftPerson, next_url: str
) -> HttpResponse:
    try:
        flow = signin.begin(
            app,
            request.build_absolute_uri(reverse("people:microsoft_callback")),
            scopes=signin.ROLE_SCOPES,
            login_hint=person.username or None,
        )
    except signin.SignInRefused as refusal:
        return render(request, "registration/signin_refused.html", {"reason": str(refusal)}, status=502)
    request.session[FLOW_SESSION_KEY] = flow
    request.session[NEXT_SESSION_KEY] = next_url
    request.session[ROLES_ROUND_SESSION_KEY] = True
    return redirect(flow["auth_uri"])


def joined_by_directory_role(joined: list[Tenant], roles: list[str]) -> str:
    """Why a person who signed in for the first time is already an admin: nobody invited them, so the page says
    which of their Microsoft directory roles made them one."""
    names = " and ".join(tenant.display_name for tenant in joined)
    held = " and ".join(roles) or "an administrator"
    return (
        f"You are now an admin of {names} in Onramp because Microsoft says you are {held} of "
        f"{'its' if len(joined) == 1 else 'their'} Microsoft 365 tenant: Onramp lets that tenant's Global "
        "Administrators and Exchange Administrators join as admin on their own, and records it in the timeline."
    )


def _usable_invitation(token: str | None) -> Invitation | None:
    if not token:
        return None
    try:
        return people.invitation_from_token(token)
    except people.InvitationUnusable:
        return None  # the link's page says why, once the person is back on it


def _signed_in_addresses(request: HttpRequest) -> set[str]:
    """The account's addresses, and those of the Microsoft sign-in that began this session (its ID token's `email`
    may have changed since the account was made)."""
    return people.account_addresses(request.user) | set(request.session.get(MICROSOFT_ADDRESSES_SESSION_KEY, []))


@login_not_required
@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: shows what the invitation is for; the invited person, signed in, accepts it with a button.
    Signed out, a sign-in (Microsoft or password) brings the person back here; nobody joins without pressing
    Accept, and only the invited address may."""
    try:
        pending = people.invitation_from_token(token)
    except people.InvitationUnusable as refusal:
        return render(request, "people/invitation.html", {"unusable": str(refusal)}, status=410)
    context = {
        "invitation": pending,
        "invited_address": people.partly_hidden(pending.email),
        "token": token,
        "microsoft_signin": signin.configured_app() is not None,
        "password_signin": settings.ONRAMP_PASSWORD_SIGNIN,
        "here": request.get_full_path(),
    }
    if not request.user.is_authenticated:
        request.session[INVITATION_SESSION_KEY] = token
        return render(request, "people/invitation.html", context)
    addresses = _signed_in_addresses(request)
    try:
        if request.method == "POST":
            tenant = people.accept(token, request.user, addresses)
            messages.success(request, _("You joined {organisation}.").format(organisation=tenant.display_name))
            return redirect("wizard:resume", slug=tenant.slug)
        people.check_addressed_to(pending, request.user, addresses)
    except people.InvitationForSomeoneElse as refusal:
        return render(request, "people/invitation.html", {**context, "someone_else": str(refusal)}, status=403)
    except people.InvitationUnusable as refusal:
        return render(request, "people/invitation.html", {"unusable": str(refusal)}, status=410)
    return render(request, "people/invitation.html", {**context, "invited_address": pending.email})


def _managed_tenant(request: HttpRequest, slug: str) -> Tenant:
    tenant = access.get_tenant_for(request.user, slug)
    if not access.can_manage_members(request.user, tenant):
        raise Http404("No such page")
    return tenant


@require_GET
def members(request: HttpRequest, slug: str) -> HttpResponse:
    """Everyone who sees the organisation sees who is in it; its admins also invite, change roles and remove."""
    tenant = access.get_tenant_for(request.user, slug)
    return _members_page(request, tenant, InvitationForm())


def _members_page(request: HttpRequest, tenant: Tenant, form: InvitationForm, status: int = 200) -> HttpResponse:
    manages = access.can_manage_members(request.user, tenant)
    invitations = [
        (
            invitation,
            people.invitation_expires_at(invitation),
            request.build_absolute_uri(reverse("people:invitation", args=[people.invitation_token(invitation)])),
        )
        for invitation in (people.pending_invitations(tenant) if manages else [])
    ]
    own = Membership.objects.filter(tenant=tenant, user=request.user).first()
    context = {
        "tenant": tenant,
        "manages": manages,
        "own_membership": own if own is not None and own.role == Role.ADMIN else None,
        "members": people.members_of(tenant),
        "invitations": invitations,
        "form": form,
        "role_form": MemberRoleForm(),
    }
    return render(request, "people/members.html", context, status=status)


@require_POST
def invite(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = _managed_tenant(request, slug)
    form = InvitationForm(request.POST)
    if not form.is_valid():
        return _members_page(request, tenant, form, status=400)
    invitation = people.invite(
        tenant,
        form.cleaned_data["email"],
        form.cleaned_data["role"],
        request.user,
        lambda token: request.build_absolute_uri(reverse("people:invitation", args=[token])),
    )
    messages.success(request, _("Invitation sent to {address}.").format(address=invitation.email))
    return redirect("people:members", slug=tenant.slug)


@require_POST
def revoke_invitation(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    tenant = _managed_tenant(request, slug)
    people.revoke(get_object_or_404(Invitation, pk=pk, tenant=tenant), request.user)
    messages.success(request, _("Invitation withdrawn."))
    return redirect("people:members", slug=tenant.slug)


@require_POST
def change_role(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    tenant = _managed_tenant(request, slug)
    membership = get_object_or_404(Membership, pk=pk, tenant=tenant)
    form = MemberRoleForm(request.POST)
    if form.is_valid():
        try:
            people.change_role(membership, form.cleaned_data["role"], request.user)
        except people.MembershipChangeRefused as refusal:
            messages.error(request, str(refusal))
    return redirect("people:members", slug=tenant.slug)


@require_POST
def remove_member(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    tenant = _managed_tenant(request, slug)
    membership = get_object_or_404(Membership, pk=pk, tenant=tenant)
    try:
        people.remove(membership, request.user)
    except people.MembershipChangeRefused as refusal:
        messages.error(request, str(refusal))
    return redirect("people:members", slug=tenant.slug)


@require_POST
def notification_setting(request: HttpRequest, slug: str) -> HttpResponse:
    """Turn this organisation's emails on or off for oneself."""
    tenant = access.get_tenant_for(request.user, slug)
    membership = get_object_or_404(Membership, tenant=tenant, user=request.user)
    people.set_notifications(membership, request.POST.get("notify") == "on")
    messages.success(request, "Emails turned on." if membership.notify else "Emails turned off.")
    return redirect("people:members", slug=tenant.slug)
