"""How the OpenAPI schema describes API token authentication."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "chatsite.accounts.authentication.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A personal API token from the settings page (/accounts/settings/) or "
                "`manage.py create_api_token`: `Authorization: Bearer chs_...`. "
                "`Authorization: Token chs_...` is accepted too."
            ),
        }
