from django.contrib import admin

from tenants.models import Membership, Tenant, TenantSecret


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "display_name", "profile", "status", "updated_at"]
    list_filter = ["profile", "status", "cloud"]
    search_fields = ["slug", "display_name", "microsoft_tenant_id"]
    inlines = [MembershipInline]


@admin.register(TenantSecret)
class TenantSecretAdmin(admin.ModelAdmin):
    """Shows which secrets exist and when they changed, never their value."""

    list_display = ["tenant", "kind", "updated_at"]
    fields = ["tenant", "kind", "updated_at"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
