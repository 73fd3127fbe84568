"""Every integer a route takes gets the database's bounds (`core.limits.DbInt`) unless it declares
its own: path, query, header, cookie and form parameters, the parameters of the route's
dependencies, and the integer fields of request bodies at any depth. The composition root applies
this to each router before the app includes it, so a route may write plain `int` and still answer
an id past PostgreSQL's INTEGER with a 422 naming the field (not a server error), and the OpenAPI
document publishes each bound.

FastAPI reads a route's parameters from `inspect.signature` of its endpoint and dependencies when
a router is included; the bounded signature is set as `__signature__`, the standard way to tell
`inspect` a callable's signature. Request body models get the bounds on their fields and are
rebuilt in place (`model_rebuild(force=True)`): the same class is the body everywhere."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from copy import copy
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
from fastapi import APIRouter, params
from fastapi.dependencies.utils import get_typed_return_annotation, get_typed_signature
from fastapi.routing import APIRoute, APIWebSocketRoute
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from core.limits import INT_MAX, INT_MIN, DbInt

_NONE = type(None)


def bound_router(router: APIRouter) -> None:
    """Bound every integer the router's routes take (safe to call again)."""
    seen: set[int] = set()
    models: dict[type[BaseModel], bool] = {}
    for route in router.routes:
        if isinstance(route, (APIRoute, APIWebSocketRoute)):
            _bound_callable(route.endpoint, seen, models)
            for depends in route.dependencies:
                _bound_callable(depends.dependency, seen, models)
        elif isinstance(getattr(route, "original_router", None), APIRouter):  # a router included in this one
            bound_router(route.original_router)  # type: ignore[attr-defined]


def _bound_callable(call: Callable[..., Any] | None, seen: set[int], models: dict[type[BaseModel], bool]) -> None:
    if call is None or id(call) in seen:
        return
    seen.add(id(call))
    try:
        original = inspect.signature(call)
        typed = get_typed_signature(call)
    except (TypeError, ValueError, NameError):
        return  # not a signature FastAPI could read either
    parameters = []
    changed = False
    for param in typed.parameters.values():
        annotation, default = _bound_parameter(param.annotation, param.default, seen, models)
        changed = changed or annotation is not param.annotation or default is not param.default
        parameters.append(param.replace(annotation=annotation, default=default))
    if not changed:
        return
    returns = original.return_annotation
    if isinstance(returns, str):
        returns = get_typed_return_annotation(call)
    call.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]


def _bound_parameter(annotation: Any, default: Any, seen: set[int],
                     models: dict[type[BaseModel], bool]) -> tuple[Any, Any]:
    if isinstance(default, params.Depends):
        _bound_callable(default.dependency or _plain(annotation), seen, models)
        return annotation, default
    if get_origin(annotation) is Annotated:
        base, *extras = get_args(annotation)
        depends = [e for e in extras if isinstance(e, params.Depends)]
        if depends:
            _bound_callable(depends[-1].dependency or base, seen, models)
            return annotation, default
    if isinstance(default, FieldInfo) and _is_int_scalar(annotation):
        # `limit: int = Query(50, ge=1)`: FastAPI takes the constraints from the default's FieldInfo.
        missing = _missing_bounds(default.metadata)
        if missing:
            default = copy(default)
            default.metadata = [*default.metadata, *missing]
        return annotation, default
    bounded, _ = _bound_type(annotation, models)
    return bounded, default


def _plain(annotation: Any) -> Any:
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


def _bound_type(annotation: Any, models: dict[type[BaseModel], bool]) -> tuple[Any, bool]:
    """The annotation with bounds on each integer in it; and whether a body model in it changed."""
    if annotation is int:
        return DbInt, False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, _bound_model(annotation, models)
    origin = get_origin(annotation)
    if origin is None or origin is typing.Literal:
        return annotation, False
    args = get_args(annotation)
    if origin is Annotated:
        base, *extras = args
        if _is_int_scalar(base):
            missing = _missing_bounds(extras)
            return (Annotated[(base, *extras, *missing)] if missing else annotation), False
        new_base, changed = _bound_type(base, models)
        return (annotation if new_base is base else Annotated[(new_base, *extras)]), changed
    results = [_bound_type(arg, models) if arg is not ... else (arg, False) for arg in args]
    new_args = tuple(r[0] for r in results)
    changed = any(r[1] for r in results)
    if all(new is old for new, old in zip(new_args, args, strict=True)):
        return annotation, changed
    if origin in (Union, types.UnionType):
        return Union[new_args], changed
    if isinstance(annotation, types.GenericAlias):
        return types.GenericAlias(origin, new_args), changed
    return annotation.copy_with(new_args), changed


def _bound_model(model: type[BaseModel], models: dict[type[BaseModel], bool]) -> bool:
    """Bounds on the model's integer fields and on those of the models inside it, rebuilding each
    one that changed (inner models first: an outer model's schema embeds theirs)."""
    if model in models:
        return models[model]
    models[model] = False  # a model that contains itself
    changed = False
    for field in model.model_fields.values():
        if _is_int_scalar(field.annotation):
            missing = _missing_bounds(field.metadata)
            if missing:
                field.metadata = [*field.metadata, *missing]
                changed = True
            continue
        bounded, inner_changed = _bound_type(field.annotation, models)
        if bounded is not field.annotation:
            field.annotation = bounded
            changed = True
        changed = changed or inner_changed
    if changed:
        model.model_rebuild(force=True)
    models[model] = changed
    return changed


def _is_int_scalar(annotation: Any) -> bool:
    """`int`, or `int | None` (pydantic applies a bound on the optional to the integer)."""
    if annotation is int:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not _NONE]
        return len(args) == 1 and args[0] is int
    return False


def _missing_bounds(metadata: list[Any] | tuple[Any, ...]) -> list[Any]:
    lower, upper = _declared_bounds(metadata)
    missing: list[Any] = []
    if not lower:
        missing.append(annotated_types.Ge(INT_MIN))
    if not upper:
        missing.append(annotated_types.Le(INT_MAX))
    return missing


def _declared_bounds(metadata: list[Any] | tuple[Any, ...]) -> tuple[bool, bool]:
    lower = upper = False
    for item in metadata:
        if isinstance(item, FieldInfo):
            inner_lower, inner_upper = _declared_bounds(item.metadata)
            lower, upper = lower or inner_lower, upper or inner_upper
            continue
        lower = lower or getattr(item, "ge", None) is not None or getattr(item, "gt", None) is not None
        upper = upper or getattr(item, "le", None) is not None or getattr(item, "lt", None) is not None
    return lower, upper
