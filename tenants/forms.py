import unicodedata

from django import forms
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from tenants.models import Profile, Role, Tenant

# Control characters (tabs and line breaks included) and the Unicode line and paragraph separators.
_CONTROL_CATEGORIES = {"Cc", "Zl", "Zp"}


class TenantForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ["display_name", "slug", "profile"]
        labels = {
            "display_name": _("Organisation name"),
            "slug": _("Short name (used in links)"),
            "profile": _("Profile"),
        }
        help_texts = {"slug": _("Letters, digits and hyphens. Leave empty to derive it from the name.")}
        widgets = {"profile": forms.RadioSelect}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["profile"].initial = Profile.EXCHANGE_ONLINE

    def clean_display_name(self) -> str:
        # The name goes into email subjects, where a line break is a header injection (Django refuses to send).
        name = self.cleaned_data["display_name"]
        if any(unicodedata.category(character) in _CONTROL_CATEGORIES for character in name):
            raise forms.ValidationError(_("An organisation name cannot contain line breaks or control characters."))
        return name

    def clean_slug(self) -> str:
        slug = self.cleaned_data.get("slug") or slugify(self.data.get("display_name", ""))[:50]
        if not slug:
            raise forms.ValidationError(_("Enter a short name made of letters, digits and hyphens."))
        if Tenant.objects.filter(slug=slug).exists():
            raise forms.ValidationError(_("The short name “{slug}” is taken; choose another.").format(slug=slug))
        return slug


class InvitationForm(forms.Form):
    # 254: the longest address SMTP carries, and Invitation.email's column.
    email = forms.EmailField(label=_("Colleague's email address"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.VIEWER, widget=forms.RadioSelect)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
