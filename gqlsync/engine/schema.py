"""Builds the executable schema: the uploaded SDL plus AppSync's base scalars and directives."""

from __future__ import annotations

from functools import cache

from graphql import (
    DirectiveDefinitionNode,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    ScalarTypeDefinitionNode,
    Source,
    build_ast_schema,
    parse,
    validate_schema,
)
from graphql.validation.validate import validate_sdl

from gqlsync.app.errors import AppError, Problem
from gqlsync.engine.scalars import install_scalars
from gqlsync.resources import read_text


@cache
def base_document() -> DocumentNode:
    return parse(Source(read_text("schema", "appsync.graphql"), "appsync.graphql"), no_location=True)


def _problems(file: str, errors: list[GraphQLError]) -> list[Problem]:
    out = []
    for e in errors:
        loc = e.locations[0] if e.locations else None
        out.append(Problem(file, loc.line if loc else None, e.message, loc.column if loc else None))
    return out


def build_schema(sdl: str, file: str = "schema.graphql") -> GraphQLSchema:
    """Parse, merge and validate; raises AppError whose problems carry line and column."""
    try:
        user = parse(Source(sdl, file))
    except GraphQLError as exc:
        raise AppError(_problems(file, [exc])) from None
    base = base_document()
    reserved_types = {d.name.value for d in base.definitions if isinstance(d, ScalarTypeDefinitionNode)}
    reserved_directives = {d.name.value for d in base.definitions if isinstance(d, DirectiveDefinitionNode)}
    problems = []
    for d in user.definitions:
        name = getattr(getattr(d, "name", None), "value", None)
        loc = d.loc.source.get_location(d.loc.start) if d.loc else None
        if isinstance(d, ScalarTypeDefinitionNode) and name in reserved_types:
            problems.append(Problem(file, loc.line if loc else None,
                                    f"scalar {name} is predefined by AppSync; remove its declaration",
                                    loc.column if loc else None))
        if isinstance(d, DirectiveDefinitionNode) and name in reserved_directives:
            problems.append(Problem(file, loc.line if loc else None,
                                    f"directive @{name} is predefined by AppSync; remove its declaration",
                                    loc.column if loc else None))
    if problems:
        raise AppError(problems)
    merged = DocumentNode(definitions=(*base.definitions, *user.definitions))
    errors = validate_sdl(merged)
    if errors:
        raise AppError(_problems(file, list(errors)))
    schema = build_ast_schema(merged, assume_valid_sdl=True)
    errors = validate_schema(schema)
    if errors:
        raise AppError(_problems(file, list(errors)))
    install_scalars(schema)
    return schema
