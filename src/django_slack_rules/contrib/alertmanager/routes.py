"""The route tree of an Alertmanager configuration: each route's own matchers (``match``,
``match_re``, ``matchers``), its receiver (the parent's when it names none), ``continue``,
and its place among its parent, children and siblings. The tree is checked as Alertmanager
checks it when it loads the configuration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ...matching.matchers import EQUAL, CriteriaError, Matcher, parse_matchers
from .config import AlertmanagerConfigError, _bool, _mapping, _sequence, _string, at

_LEGACY_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(eq=False)
class _Route:
    path: str
    receiver: str
    own: tuple[Matcher, ...]
    cont: bool
    raw: Mapping[str, object]
    parent: _Route | None = None
    children: list[_Route] = field(default_factory=list)

    def ancestors(self) -> list[_Route]:
        """From the root down to the parent."""
        chain = []
        node = self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain[::-1]

    def subtree(self) -> Iterable[_Route]:
        yield self
        for child in self.children:
            yield from child.subtree()

    def post_order(self) -> Iterable[_Route]:
        for child in self.children:
            yield from child.post_order()
        yield self

    @property
    def continues_after(self) -> bool:
        """Whether Alertmanager may look further after giving an alert to this route."""
        return self.cont or any(node.cont for node in self.ancestors())

    def earlier_siblings(self) -> list[_Route]:
        if self.parent is None:
            return []
        siblings = self.parent.children
        return siblings[: siblings.index(self)]


def _route_matchers(raw: Mapping[str, object], path: str) -> tuple[Matcher, ...]:
    """``match``, ``match_re`` and ``matchers`` of one route, as Alertmanager reads them."""
    found: list[Matcher] = []
    for kind, op in (("match", EQUAL), ("match_re", "=~")):
        for name, value in sorted(_mapping(raw.get(kind), f"{path}.{kind}").items()):
            where = f"{path}.{kind}.{name}"
            if not _LEGACY_LABEL_NAME.fullmatch(str(name)):
                raise AlertmanagerConfigError(
                    f"{where}: {name!r} is not a label name (letters, digits and _, not "
                    "starting with a digit); use matchers: to match other names"
                )
            try:
                found.append(Matcher(str(name), op, _string(value, where)))
            except CriteriaError as exc:
                detail = getattr(exc, "detail", str(exc))
                raise AlertmanagerConfigError(f"{where}: {detail}") from None
    for i, text in enumerate(_sequence(raw.get("matchers"), f"{path}.matchers")):
        where = f"{path}.matchers[{i}]"
        try:
            found.extend(parse_matchers(_string(text, where)))
        except CriteriaError as exc:
            raise AlertmanagerConfigError(f"{where}: {exc}") from None
    return tuple(found)


def _build_tree(config: Mapping[str, object], receivers: Mapping[str, object]) -> _Route:
    raw_root = config.get("route")
    if not isinstance(raw_root, Mapping):
        raise AlertmanagerConfigError(
            "the configuration has no 'route': Alertmanager needs a root route with a receiver"
        )

    def build(raw: Mapping[str, object], path: str, parent: _Route | None) -> _Route:
        receiver = _string(raw.get("receiver"), f"{path}.receiver")
        if not receiver:
            if parent is None:
                raise AlertmanagerConfigError("route: the root route must name a receiver")
            receiver = parent.receiver
        elif receiver not in receivers:
            raise AlertmanagerConfigError(
                f"{path}.receiver: no receiver named {receiver!r} in receivers"
            )
        own = _route_matchers(raw, path)
        cont = _bool(raw.get("continue"), f"{path}.continue")
        if parent is None and own:
            raise AlertmanagerConfigError(
                "route: the root route must not have matchers (Alertmanager refuses them); "
                "move them to a child route"
            )
        if parent is None and cont:
            raise AlertmanagerConfigError("route: the root route cannot have continue: true")
        for key in ("mute_time_intervals", "active_time_intervals"):
            if parent is None and _sequence(raw.get(key), f"route.{key}"):
                raise AlertmanagerConfigError(
                    f"{at(raw, key)}route: the root route must not have {key} (Alertmanager "
                    f'says "root route must not have any {key.replace("_", " ")}"); move them '
                    "to a child route"
                )
        node = _Route(path, receiver, own, cont, raw, parent)
        for i, child in enumerate(_sequence(raw.get("routes"), f"{path}.routes")):
            child_path = f"{path}.routes[{i}]"
            if not isinstance(child, Mapping):
                raise AlertmanagerConfigError(f"{child_path} must be a mapping")
            node.children.append(build(child, child_path, node))
        return node

    return build(raw_root, "route", None)
