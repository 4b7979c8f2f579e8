"""AppSync's auth directives: which auth modes (and Cognito groups) may read each type's fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import GraphQLObjectType, GraphQLSchema, value_from_ast_untyped

from gqlsync.app.model import AuthConfig

MODE_OF = {"aws_api_key": "API_KEY", "aws_iam": "AWS_IAM", "aws_oidc": "OPENID_CONNECT", "aws_lambda": "AWS_LAMBDA",
           "aws_cognito_user_pools": "AMAZON_COGNITO_USER_POOLS", "aws_auth": "AMAZON_COGNITO_USER_POOLS"}


@dataclass(frozen=True)
class FieldRule:
    """Modes allowed on a field; for Cognito, the groups allowed (None: any signed-in user)."""

    modes: frozenset[str]
    cognito_groups: frozenset[str] | None = None
    explicit: bool = True  # False: no directive on field or type, so the default mode only


def _rule(directives: Any) -> FieldRule | None:
    modes: set[str] = set()
    groups: set[str] | None = None
    for d in directives or ():
        mode = MODE_OF.get(d.name.value)
        if mode is None:
            continue
        modes.add(mode)
        for arg in d.arguments or ():
            if arg.name.value == "cognito_groups":
                listed = value_from_ast_untyped(arg.value) or []
                groups = (groups or set()) | {str(g) for g in listed}
    if not modes:
        return None
    return FieldRule(frozenset(modes), frozenset(groups) if groups is not None else None)


class AuthRules:
    """Decisions per (type, field), precomputed from the schema: field directives override type directives."""

    def __init__(self, schema: GraphQLSchema, auth: AuthConfig) -> None:
        self.default_mode = auth.default.mode
        self.all_modes = frozenset(auth.modes)
        self.cognito_deny_default = any(p.mode == "AMAZON_COGNITO_USER_POOLS" and
                                        str(p.config.get("defaultAction", "ALLOW")).upper() == "DENY"
                                        for p in (auth.default,))
        self.rules: dict[tuple[str, str], FieldRule] = {}
        for type_ in schema.type_map.values():
            if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
                continue
            type_rule = _rule(type_.ast_node.directives if type_.ast_node else None)
            for name, f in type_.fields.items():
                rule = _rule(f.ast_node.directives if f.ast_node else None) or type_rule
                if rule is None:
                    rule = FieldRule(frozenset({self.default_mode}), None, explicit=False)
                self.rules[(type_.name, name)] = rule

    def unrestricted(self, type_name: str, field: str) -> bool:
        """True when every configured mode may read the field whoever the caller is (no check needed)."""
        if "AWS_LAMBDA" in self.all_modes:
            return False  # a Lambda authorizer's deniedFields can name any field
        rule = self.rules.get((type_name, field))
        if rule is None:
            return True
        if rule.modes != self.all_modes or rule.cognito_groups is not None:
            return False
        return not (self.cognito_deny_default and not rule.explicit)

    def allows(self, type_name: str, field: str, mode: str, identity: dict[str, Any] | None) -> bool:
        rule = self.rules.get((type_name, field))
        if rule is None:
            return True
        if mode not in rule.modes:
            return False
        if mode == "AWS_LAMBDA":
            denied = (identity or {}).get("deniedFields") or ()
            if f"{type_name}.{field}" in denied or any(d.endswith(f"/types/{type_name}/fields/{field}")
                                                       for d in denied):
                return False
        if mode == "AMAZON_COGNITO_USER_POOLS":
            groups = set((identity or {}).get("groups") or [])
            if rule.cognito_groups is not None:
                return bool(groups & rule.cognito_groups)
            if not rule.explicit and self.cognito_deny_default:
                return False
        return True
