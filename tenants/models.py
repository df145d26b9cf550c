from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Profile(models.TextChoices):
    EXCHANGE_ONLINE = "exchange_online", _("Exchange Online (Microsoft 365)")
    EXCHANGE_SERVER = "exchange_server", _("Exchange Server (on-premises)")


class Cloud(models.TextChoices):
    WORLDWIDE = "worldwide", _("Worldwide (commercial)")
    USGOV_HIGH = "usgov_high", _("US Government GCC High")
    CHINA = "china", _("China (21Vianet)")
    CUSTOM = "custom", _("Explicit endpoints")


class BindingProof(models.TextChoices):
    """How an organisation proved that its Microsoft tenant id is its own (see tenants.access.tenants_bound_to)."""

    NONE = "", _("Not proven")
    # A Microsoft sign-in of an administrator of that tenant, through Onramp's connector app (ID token's `tid`).
    ADMIN_SIGN_IN = "admin_sign_in", _("An administrator's Microsoft sign-in")
    # A token issued by that tenant, on a trusted authority, to the organisation's own app registration.
    OWN_APP_TOKEN = "own_app_token", _("A token for the organisation's own app")


class TenantStatus(models.TextChoices):
    SETTING_UP = "setting_up", _("Setting up")
    ACTIVE = "active", _("Active")


class ExchangeWrites(models.TextChoices):
    """Who makes the organisation's changes in Exchange Online: Onramp through the admin API's InvokeCommand, or the
    organisation's admin, running the PowerShell each step shows and confirming it (when Microsoft refuses
    InvokeCommand to Onramp's app, or the organisation prefers it)."""

    BY_ONRAMP = "by_onramp", _("Onramp makes them")
    BY_ADMIN = "by_admin", _("The admin runs them")


class Tenant(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    display_name = models.CharField(max_length=200)
    microsoft_tenant_id = models.CharField(max_length=64, blank=True)
    profile = models.CharField(max_length=32, choices=Profile.choices, default=Profile.EXCHANGE_ONLINE)
    cloud = models.CharField(max_length=16, choices=Cloud.choices, default=Cloud.WORLDWIDE)
    # For Cloud.CUSTOM only: authority, graph_url, exchange_admin_url, ews_url, ca_bundle.
    custom_endpoints = models.JSONField(default=dict, blank=True)
    client_id = models.CharField("connector app (client) id", max_length=64, blank=True)
    # Set only by the connect step's bind_microsoft_tenant, from proof; any change of the tenant id, cloud, endpoints or
    # connector app clears it. An unproven id is only where Onramp looks, never a claim on that Microsoft tenant.
    binding_proof = models.CharField(max_length=16, choices=BindingProof.choices, default=BindingProof.NONE, blank=True)
    binding_proven_at = models.DateTimeField(null=True, blank=True)
    binding_proven_by = models.CharField(max_length=254, blank=True)
    integration_app_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=TenantStatus.choices, default=TenantStatus.SETTING_UP)
    # Rooms created after activation are placed in the room lists by the drift check itself, not offered.
    place_new_rooms = models.BooleanField("place new rooms automatically", default=False)
    # Changed only through wizard.actions.set_exchange_writes, which records it in the timeline.
    exchange_writes = models.CharField(
        "Exchange Online changes", max_length=16, choices=ExchangeWrites.choices, default=ExchangeWrites.BY_ONRAMP
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name"]
        # The support console lists every organisation by name, 50 a page: in this order the database reads those 50,
        # not all of them sorted (100,000 organisations: bench/console.py).
        indexes = [models.Index(fields=["display_name", "id"], name="tenant_by_name")]

    def __str__(self) -> str:
        return self.display_name

    @property
    def admin_runs_exchange_writes(self) -> bool:
        return self.exchange_writes == ExchangeWrites.BY_ADMIN


class SecretKind(models.TextChoices):
    CLIENT_SECRET = "client_secret", "Connector app client secret"
    # JSON {"private_key": PKCS#8 PEM, "thumbprint": SHA-1 hex}: the connector app's certificate credential.
    CLIENT_CERTIFICATE = "client_certificate", "Connector app certificate (private key)"
    INTEGRATION_CLIENT_SECRET = "integration_client_secret", "Integration app client secret"
    SERVICE_ACCOUNT_PASSWORD = "service_account_password", "Service account password"
    TOKEN_CACHE = "token_cache", "Microsoft token cache"
    WEBHOOK_SECRET = "webhook_secret", "Webhook signing secret"
    # JSON: new connector credentials saved to replace working ones, until step 0 proves them on the worker.
    PENDING_CREDENTIALS = "pending_credentials", "Connector credentials waiting for their proof"
    # JSON: the msal token cache (refresh token included) of the administrator who connected with Microsoft, and
    # whose it is (wizard.microsoft.delegated.KeptSignIn).
    ADMIN_SIGN_IN = "admin_sign_in", "Signed-in administrator's delegated tokens"


class TenantSecret(models.Model):
    """One secret of a tenant, Fernet-encrypted. Only tenants.secrets reads or writes `ciphertext`."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="secrets")
    kind = models.CharField(max_length=40, choices=SecretKind.choices)
    ciphertext = models.BinaryField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "kind"], name="one_secret_per_kind")]

    def __str__(self) -> str:
        return f"{self.tenant.slug}: {self.get_kind_display()}"


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")  # runs steps, enters secrets, manages members
    VIEWER = "viewer", _("Viewer")  # reads progress and results


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ADMIN)
    notify = models.BooleanField("email me about this organisation", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user} → {self.tenant} ({self.role})"


class MicrosoftIdentity(models.Model):
    """A person as Microsoft knows them: object id `oid` in directory `tid`. Never matched by email, which a
    directory can reassign; `username` (the ID token's preferred_username) is only shown."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="microsoft_identity")
    tid = models.CharField("Microsoft tenant id", max_length=64)
    oid = models.CharField("object id", max_length=64)
    username = models.CharField(max_length=254, blank=True)
    last_sign_in = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tid", "oid"], name="one_user_per_microsoft_identity")]

    def __str__(self) -> str:
        return f"{self.username or self.oid} ({self.tid})"


class SupportRole(models.TextChoices):
    VIEWER = "support_viewer", _("Support viewer")  # the console, read-only
    OPERATOR = "support_operator", _("Support operator")  # also retries and re-verifies steps


class SupportGrant(models.Model):
    """Makes a person support staff of this installation."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="support_grant")
    role = models.CharField(max_length=20, choices=SupportRole.choices, default=SupportRole.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


class Invitation(models.Model):
    """An admin's invitation to join an organisation; the emailed link carries its signed id. Used once, expires,
    can be revoked."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="invitations_sent"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} → {self.tenant} ({self.role})"
