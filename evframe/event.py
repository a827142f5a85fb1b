"""Events: the abstract :class:`Event`, :class:`ShotgunEvent` and the scratchpad."""

from __future__ import annotations

import abc
import datetime as _dt
from collections.abc import Mapping
from typing import Any

__all__ = ["EVENT_FIELDS", "Event", "Namespace", "Scratchpad", "ShotgunEvent"]

#: The EventLogEntry fields a ShotgunEvent reads: what to ask ``find`` for.
EVENT_FIELDS = (
    "id",
    "event_type",
    "attribute_name",
    "meta",
    "entity",
    "project",
    "user",
    "created_at",
    "session_uuid",
    "description",
)


class Namespace:
    """One namespace of the scratchpad: attributes set by handlers for other handlers."""

    __slots__ = ("_data", "_ns")
    _data: dict[str, Any]
    _ns: str

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_ns", name)
        object.__setattr__(self, "_data", {})

    def __getattr__(self, name: str) -> Any:
        data = self._data
        if name.startswith("_") or name not in data:
            raise AttributeError(f"scratchpad namespace {self._ns!r} has no attribute {name!r}")
        return data[name]

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            raise AttributeError(
                f"scratchpad names may not start with '_': refused {self._ns}.{name}"
            )
        self._data[name] = value

    def __delattr__(self, name: str) -> None:
        if name.startswith("_") or name not in self._data:
            raise AttributeError(f"scratchpad namespace {self._ns!r} has no attribute {name!r}")
        del self._data[name]

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __dir__(self) -> list[str]:
        return sorted(self._data)

    def __repr__(self) -> str:
        return f"<Namespace {self._ns} {self._data!r}>"

    def as_dict(self) -> dict[str, Any]:
        """A copy of this namespace's attributes."""
        return dict(self._data)


class Scratchpad:
    """``event.proc``: namespaces handlers use to pass data along.

    ``event.proc.rollup.shot = x`` works; reading an unknown namespace creates
    it; ``event.proc.shot = x`` is refused, so that every value lives in a
    namespace named after whoever owns it.
    """

    __slots__ = ("_namespaces",)
    _namespaces: dict[str, Namespace]

    def __init__(self) -> None:
        object.__setattr__(self, "_namespaces", {})

    def __getattr__(self, name: str) -> Namespace:
        if name.startswith("_"):
            raise AttributeError(f"scratchpad names may not start with '_': refused {name!r}")
        namespaces = self._namespaces
        ns = namespaces.get(name)
        if ns is None:
            ns = namespaces[name] = Namespace(name)
        return ns

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"cannot set event.proc.{name} directly: store values in a namespace, "
            f"e.g. event.proc.{name}.value = ... or event.proc.<handler>.{name} = ..."
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete scratchpad namespace {name!r}")

    def __contains__(self, name: object) -> bool:
        return name in self._namespaces

    def __dir__(self) -> list[str]:
        return sorted(self._namespaces)

    def __repr__(self) -> str:
        return f"<Scratchpad {sorted(self._namespaces)}>"


class Event(abc.ABC):
    """Base class of everything handlers process.

    Subclasses provide :attr:`name`, which ``@want`` filters match against.
    ``ctxt`` is free extra data for the handlers.
    """

    def __init__(self, ctxt: Any = None) -> None:
        self.ctxt = ctxt
        self._proc: Scratchpad | None = None

    @property
    def proc(self) -> Scratchpad:
        """The scratchpad, namespaced: ``event.proc.<namespace>.<attr>``."""
        if self._proc is None:
            self._proc = Scratchpad()
        return self._proc

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The event's name, e.g. ``Shotgun_Task_Change``."""

    # Dispatch looks these up on every event; a plain event has neither.
    @property
    def entity_type(self) -> str | None:
        """The entity type this event is about, if any."""
        return None

    @property
    def field(self) -> str | None:
        """The field this event changed, if any."""
        return None

    @property
    def project_id(self) -> int | None:
        """The id of the event's project, if any."""
        return None

    @property
    def project_name(self) -> str | None:
        """The name of the event's project, if any."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


_OPERATIONS = {
    "new_entity": "new",
    "attribute_change": "change",
    "entity_retirement": "retirement",
    "entity_revival": "revival",
}


def _parse_created_at(value: Any) -> _dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        # Sites store UTC; a naive value (a client without timezone support) is UTC too.
        return value if value.tzinfo is not None else value.replace(tzinfo=_dt.timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        elif text.endswith(" UTC"):
            text = text[:-4] + "+00:00"
        try:
            parsed = _dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=_dt.timezone.utc)
        return parsed
    return None


class ShotgunEvent(Event):
    """One EventLogEntry row, as ``shotgun_api3`` returns it.

    Property access never fails on a record that lacks optional keys: a missing
    value reads as ``None`` (``added``/``removed`` as empty lists).
    """

    __slots__ = ("_entity_type", "_field", "_meta", "_name", "record")

    def __init__(self, record: Mapping[str, Any], ctxt: Any = None) -> None:
        super().__init__(ctxt)
        self.record: Mapping[str, Any] = record
        meta = record.get("meta")
        self._meta: Mapping[str, Any] | None = meta if isinstance(meta, Mapping) else None
        self._name: str = record.get("event_type") or ""
        # The three dispatch keys are computed once: every handler filter reads them.
        entity = record.get("entity")
        etype = entity.get("type") if isinstance(entity, Mapping) else None
        if etype is None and self._meta is not None:
            etype = self._meta.get("entity_type")
        self._entity_type: str | None = etype
        self._field: str | None = record.get("attribute_name") or (
            self._meta.get("attribute_name") if self._meta is not None else None
        )

    @property
    def name(self) -> str:
        """The event type, e.g. ``Shotgun_Task_Change``."""
        return self._name

    @property
    def id(self) -> int | None:
        """The EventLogEntry id."""
        return self.record.get("id")

    @property
    def event_type(self) -> str:
        """Same as :attr:`name`."""
        return self._name

    @property
    def entity(self) -> Mapping[str, Any] | None:
        """The entity link, or ``None`` (always ``None`` for retired entities)."""
        entity = self.record.get("entity")
        return entity if isinstance(entity, Mapping) else None

    @property
    def entity_type(self) -> str | None:
        """The entity type, from the link or, when it is null, from ``meta``."""
        return self._entity_type

    @property
    def entity_id(self) -> int | None:
        """The entity id, from the link or, when it is null, from ``meta``."""
        entity = self.entity
        if entity is not None and entity.get("id") is not None:
            return entity.get("id")
        return self._meta.get("entity_id") if self._meta is not None else None

    @property
    def field(self) -> str | None:
        """The changed field (``attribute_name``), or ``None``."""
        return self._field

    attribute_name = field

    @property
    def meta(self) -> Mapping[str, Any] | None:
        """The ``meta`` dictionary, or ``None`` for events without one (logins)."""
        return self._meta

    def _meta_get(self, key: str) -> Any:
        return self._meta.get(key) if self._meta is not None else None

    @property
    def old_value(self) -> Any:
        """The value before an attribute change (``None`` at creation)."""
        return self._meta_get("old_value")

    @property
    def new_value(self) -> Any:
        """The value after an attribute change."""
        return self._meta_get("new_value")

    @property
    def added(self) -> list[Any]:
        """Links added to a multi-entity field (empty for other events)."""
        return list(self._meta_get("added") or [])

    @property
    def removed(self) -> list[Any]:
        """Links removed from a multi-entity field (empty for other events)."""
        return list(self._meta_get("removed") or [])

    @property
    def in_create(self) -> bool:
        """True for the Change rows a site writes for fields set at creation."""
        return bool(self._meta_get("in_create"))

    @property
    def operation(self) -> str | None:
        """``new``, ``change``, ``retirement``, ``revival`` or ``None``."""
        return _OPERATIONS.get(self._meta_get("type"))

    @property
    def project(self) -> Mapping[str, Any] | None:
        """The project link, or ``None``."""
        project = self.record.get("project")
        return project if isinstance(project, Mapping) else None

    @property
    def project_id(self) -> int | None:
        """The project's id, or ``None``."""
        project = self.project
        return project.get("id") if project is not None else None

    @property
    def project_name(self) -> str | None:
        """The project's name as the link carries it, or ``None``."""
        project = self.project
        return project.get("name") if project is not None else None

    @property
    def user(self) -> Mapping[str, Any] | None:
        """The HumanUser or ApiUser who made the change, or ``None``."""
        user = self.record.get("user")
        return user if isinstance(user, Mapping) else None

    @property
    def created_at(self) -> _dt.datetime | None:
        """When the event was written, as an aware ``datetime``."""
        return _parse_created_at(self.record.get("created_at"))

    @property
    def session_uuid(self) -> str | None:
        """The session of the client that made the change, if it set one."""
        return self.record.get("session_uuid")

    @property
    def description(self) -> str | None:
        """The site's human-readable description."""
        return self.record.get("description")

    def __repr__(self) -> str:
        return f"<ShotgunEvent #{self.id} {self._name}>"
