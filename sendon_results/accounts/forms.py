from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _

from ..models import Membership, Organization


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("e.g. the sending server"))


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254)
    role = forms.ChoiceField(
        label=_("Role"), choices=Membership.Role, initial=Membership.Role.VIEWER
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization

    def clean_email(self) -> str:
        email: str = get_user_model().objects.normalize_email(self.cleaned_data["email"])
        if Membership.objects.filter(
            organization=self.organization, user__email__iexact=email
        ).exists():
            raise forms.ValidationError(_("This address already belongs to a member."))
        return email


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Membership.Role)


class JoinForm(UserCreationForm[User]):
    """A new account for the person invited: the invitation fixes its email."""

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "last_name", "first_name")

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        # The email is on the account before the password validators look at it (a password
        # like the address is refused).
        super().__init__(*args, instance=User(email=email), **kwargs)
        self.fields["username"].label = _("Username")  # as the sign-in page says it
        self.fields["last_name"].label = _("Family name")
        self.fields["first_name"].label = _("Given name")

    def clean(self) -> dict[str, Any]:
        super().clean()
        if User.objects.filter(email__iexact=self.instance.email).exists():
            raise forms.ValidationError(
                _("An account with this address exists already: sign in to accept.")
            )
        return self.cleaned_data
