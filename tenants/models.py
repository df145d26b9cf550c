from django.conf import settings
from django.db import models


class Profile(models.TextChoices):
    EXCHANGE_ONLINE = "exchange_online", "Exchange Online (Microsoft 365)"
    EXCHANGE_SERVER = "exchange_server", "Exchange Server (on-premises)"


class Cloud(models.TextChoices):
    WORLDWIDE = "worldwide", "Worldwide (commercial)"
    USGOV_HIGH = "usgov_high", "US Government GCC High"
    CHINA = "china", "China (21Vianet)"
    CUSTOM = "custom", "Explicit endpoints"


class TenantStatus(models.TextChoices):
    SETTING_UP = "setting_up", "Setting up"
    ACTIVE = "active", "Active"


class Tenant(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    display_name = models.CharField(max_length=200)
    microsoft_tenant_id = models.CharField(max_length=64, blank=True)
    profile = models.CharField(max_length=32, choices=Profile.choices, default=Profile.EXCHANGE_ONLINE)
    cloud = models.CharField(max_length=16, choices=Cloud.choices, default=Cloud.WORLDWIDE)
    # For Cloud.CUSTOM only: authority, graph_url, exchange_admin_url, ews_url, ca_bundle.
    custom_endpoints = models.JSONField(default=dict, blank=True)
    client_id = models.CharField("connector app (client) id", max_length=64, blank=True)
    integration_app_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=TenantStatus.choices, default=TenantStatus.SETTING_UP)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name


class SecretKind(models.TextChoices):
    CLIENT_SECRET = "client_secret", "Connector app client secret"
    INTEGRATION_CLIENT_SECRET = "integration_client_secret", "Integration app client secret"
    SERVICE_ACCOUNT_PASSWORD = "service_account_password", "Service account password"
    TOKEN_CACHE = "token_cache", "Microsoft token cache"
    WEBHOOK_SECRET = "webhook_secret", "Webhook signing secret"


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
    ADMIN = "admin", "Admin"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ADMIN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user} → {self.tenant} ({self.role})"
