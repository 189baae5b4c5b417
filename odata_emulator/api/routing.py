"""Routing of the Web API: the path below the service root, matched against a table of routes
(`api/routes.py`). Each route decides for itself how much of a path it takes; the router only
iterates, as Starlette's does.

A route's path is a pattern of segments separated by `/` (`""` is the service root itself):

    $metadata, $count, WhoAmI     a segment spelled so, without parentheses
    WhoAmI()                      ... with `()` or without (a function call)
    {set}                         an entity set of the model, without parentheses
    {set}({key})                  an entity set and a key: a GUID or an alternate key (`parse_key`)
    asyncoperations({id})         that entity set, and a key that is a GUID
    GlobalOptionSetDefinitions({text})   any text between the parentheses, read by the endpoint
    {property}                    a structural property of the entity so far (`name`, `_ownerid_value`)
    {navigation}                  a navigation property of the entity so far (`owninguser`)
    {path}                        the rest of the path, one segment or more

A request is answered by the first route that takes its whole path and its method. When routes
take the path but none takes the method, the first of them refuses it: 405, or for a function or
an action (`operation=True`) the 404 Dataverse gives for an unknown URI. When no route takes the
whole path, the 404 names (without its parentheses) the segment where the path leaves the route
that follows it furthest: the first segment that route does not take, or its last segment when the
path goes on past its end (`$metadata/x` names `$metadata`). A key that is not a key fails as soon as a route reads it, whatever the rest of the path.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from starlette.requests import Request

from ..caller import Caller
from ..emulator import Emulator
from ..errors import DataverseError, MethodNotAllowed, ResourceNotFound
from ..model import Attribute, Entity, EntityModel, ManyToOne, OneToMany
from .resource import EntityKey, Segment, parse_key
from .responses import service_root

_PART = re.compile(r"^(?P<name>[^(){}/]+|\{set\}|\{property\}|\{navigation\}|\{path\})"
                   r"(?:\((?P<key>|\{key\}|\{id\}|\{text\})\))?$")


class Bound(NamedTuple):
    """What the segments matched so far name (a named tuple: routing makes several per request, and
    `_replace` costs a tenth of `dataclasses.replace`)."""

    entity: Entity | None = None
    key: EntityKey | None = None
    attribute: Attribute | None = None
    navigation: ManyToOne | OneToMany | None = None
    rest: tuple[Segment, ...] = ()  # what `{path}` took
    text: str | None = None  # what `({text})` took, as written


@dataclass(frozen=True)
class _Part:
    """One segment of a route's path."""

    name: str               # a literal, or "{set}", "{property}", "{navigation}", "{path}"
    key: str | None = None  # None: no parentheses; "": optional "()"; "{key}"; "{id}"; "{text}"

    def match(self, segment: Segment, bound: Bound, model: EntityModel) -> Bound | None:
        named = self._name(segment.name, bound, model)
        return None if named is None else self._key(segment.key, named)

    def _name(self, name: str, bound: Bound, model: EntityModel) -> Bound | None:
        if self.name == "{set}":
            entity = model.by_entity_set.get(name)
            return None if entity is None else bound._replace(entity=entity)
        if self.name == "{property}":
            attribute = bound.entity.properties.get(name) if bound.entity is not None else None
            return None if attribute is None else bound._replace(attribute=attribute)
        if self.name == "{navigation}":
            navigation = bound.entity.navigations.get(name) if bound.entity is not None else None
            return None if navigation is None else bound._replace(navigation=navigation)
        if name != self.name:
            return None
        entity = model.by_entity_set.get(name)  # a literal entity set (`asyncoperations`)
        return bound if entity is None else bound._replace(entity=entity)

    def _key(self, text: str | None, bound: Bound) -> Bound | None:
        if self.key is None:
            return bound if text is None else None
        if self.key == "":
            return bound if text in (None, "") else None
        if self.key == "{text}":
            return None if text is None else bound._replace(text=text)
        if text is None or bound.entity is None:
            return None
        key = parse_key(bound.entity, text)  # raises for a key that is not one
        if self.key == "{id}" and key.primary is None:
            return None
        return bound._replace(key=key)


def _parts(path: str) -> tuple[_Part, ...]:
    parts = []
    for text in path.split("/") if path else ():
        match = _PART.match(text)
        if match is None:
            raise ValueError(f"not a route segment: {text!r} in {path!r}")
        parts.append(_Part(match.group("name"), match.group("key")))
    return tuple(parts)


@dataclass(frozen=True)
class Route:
    """`path` (a pattern, see the module docstring) answered for `methods` by `endpoint`."""

    path: str
    methods: frozenset[str] | str
    endpoint: Callable[[Call], Awaitable]
    operation: bool = False  # a function or action: another method is an unknown URI, not a 405
    parts: tuple[_Part, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        methods = frozenset(self.methods.split()) if isinstance(self.methods, str) else frozenset(self.methods)
        object.__setattr__(self, "methods", methods)
        object.__setattr__(self, "parts", _parts(self.path))

    def match(self, segments: list[Segment], model: EntityModel) -> tuple[Bound | None, int]:
        """What the path names when this route takes all of it (else None); else where the path
        leaves this route: the first segment it does not take, or its own last segment when the
        path goes on past its end."""
        bound = Bound()
        for taken, part in enumerate(self.parts):
            if taken == len(segments):
                return None, taken
            if part.name == "{path}":
                return bound._replace(rest=tuple(segments[taken:])), 0
            next_bound = part.match(segments[taken], bound, model)
            if next_bound is None:
                return None, taken
            bound = next_bound
        return (bound, 0) if len(segments) == len(self.parts) else (None, max(len(self.parts) - 1, 0))

    def refusal(self, request: Request) -> DataverseError:
        """The error for a method this route does not take, on a path it takes."""
        if self.operation:
            return ResourceNotFound("No HTTP resource was found that matches the request URI "
                                    f"'{service_root(request)}{self.parts[0].name}'.", code="")
        return MethodNotAllowed(f"The requested resource does not support http method '{request.method}'.")


def resolve(routes: Sequence[Route], segments: list[Segment], request: Request,
            model: EntityModel) -> tuple[Route, Bound]:
    """The route that answers this request and what its path names; raises the refusal otherwise."""
    if segments:
        # Only the routes whose first part can take the first segment are tried (in table order, so
        # the first that answers is the one the whole table would give): most requests match a
        # third of the table's routes at most.
        for route in _first_part_candidates(routes, model, segments[0].name):
            bound, _ = route.match(segments, model)
            if bound is not None and request.method in route.methods:
                return route, bound
    # No route answers (or the path is the service root): the whole table says which refusal.
    longest = 0
    refusing: Route | None = None
    for route in routes:
        bound, taken = route.match(segments, model)
        if bound is not None:
            if request.method in route.methods:
                return route, bound
            refusing = refusing or route
        longest = max(longest, taken)
    if refusing is not None:
        raise refusing.refusal(request)
    segment = segments[min(longest, len(segments) - 1)] if segments else Segment("", None)
    raise ResourceNotFound(f"Resource not found for the segment '{segment.name}'.")


def _first_part_candidates(routes: Sequence[Route], model: EntityModel, name: str) -> tuple[Route, ...]:
    """The routes of `routes` whose first part can take a first segment called `name`, in order.
    Kept per table and model (by identity) and per kind of name: a literal of the table, an entity
    set, or any other name (so a client's made-up names do not grow the memo)."""
    memo = _CANDIDATES.get(id(routes))
    if memo is None or memo[0] is not routes or memo[1] is not model:
        memo = (routes, model, {}, frozenset(r.parts[0].name for r in routes if r.parts))
        _CANDIDATES[id(routes)] = memo
    _, _, by_kind, literals = memo
    kind = (name if name in literals else None, name in model.by_entity_set)
    found = by_kind.get(kind)
    if found is None:
        found = tuple(route for route in routes if route.parts and (
            route.parts[0].name == name or route.parts[0].name == "{path}"
            or route.parts[0].name == "{set}" and kind[1]))
        by_kind[kind] = found
    return found


_CANDIDATES: dict[int, tuple[Sequence[Route], EntityModel, dict[tuple[str | None, bool], tuple[Route, ...]],
                             frozenset[str]]] = {}


@dataclass
class Service:
    """What the endpoints of one application share."""

    emulator: Emulator
    set_names: dict[str, str]  # logical name -> entity set, for `@odata.id` links
    csdl: bytes | None = None  # `$metadata`, rendered on first use


@dataclass(frozen=True)
class Call:
    """One request to one route: the request, the application's service, what the path named."""

    request: Request
    service: Service
    bound: Bound

    @property
    def emulator(self) -> Emulator:
        return self.service.emulator

    @property
    def model(self) -> EntityModel:
        return self.service.emulator.model

    @property
    def root(self) -> str:
        return service_root(self.request)

    @property
    def caller(self) -> Caller:
        """Who calls (`api/auth.py` resolved it before routing), else the data set's user."""
        return getattr(self.request.state, "caller", None) or self.emulator.caller

    @property
    def entity(self) -> Entity:
        assert self.bound.entity is not None, "the route's path names an entity set"
        return self.bound.entity

    @property
    def key(self) -> EntityKey:
        assert self.bound.key is not None, "the route's path names a key"
        return self.bound.key

    def below(self, entity: Entity, key: EntityKey) -> Call:
        """The same request, on another row (a single-valued navigation's target)."""
        return Call(self.request, self.service, Bound(entity=entity, key=key))
