from __future__ import annotations

from django import forms

from chatsite.accounts.tokens import NAME_MAX_LENGTH, ApiTokenError, api_token_clean_name

EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]


class ApiTokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX_LENGTH,
        help_text="What the token is for, e.g. “backup script”.",
    )
    expires_in_days = forms.TypedChoiceField(
        label="Expires",
        choices=EXPIRY_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        initial="90",
    )

    def clean_name(self) -> str:
        try:
            return api_token_clean_name(self.cleaned_data["name"])
        except ApiTokenError as exc:
            raise forms.ValidationError(exc.message) from None
