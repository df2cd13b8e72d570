"""What every config model shares: strictness, the error that names the source and field, event type names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ValidationError

from recpipe.errors import RecpipeError
from recpipe.strict import StrictModel

PLATFORM_START = date(2020, 1, 1)  # the marketplace opened: no bronze timestamp is earlier (validation, generator)
# Values of these fields may carry credentials and are never echoed in errors.
SECRET_FIELDS = frozenset({"redis_url", "mlflow_tracking_uri", "alert_webhook_url"})


class ConfigError(RecpipeError, ValueError):
    """A configuration file or override is invalid; the message names the source and the field."""


T = TypeVar("T", bound=StrictModel)


def check_event_types(names: Any) -> Any:
    """Raise when a name is not an event type of bronze.events; return the names."""
    from recpipe.schemas import EVENT_TYPES

    unknown = sorted(set(names) - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown event types {unknown}; known: {list(EVENT_TYPES)}")
    return names


EventTypes = Annotated[tuple[str, ...], AfterValidator(check_event_types)]  # names of bronze.events event types


def build_model(model: type[T], values: dict[str, Any], source: str, overridden: Mapping[str, str] | None = None) -> T:
    """Validate ``values`` into ``model``; errors name ``source`` (or the override) and the field."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        overridden = overridden or {}
        lines = []
        for err in exc.errors():
            field = ".".join(str(part) for part in err["loc"]) or "<root>"
            origin = _origin(field, overridden, source)
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(fields_at(model, [str(part) for part in err["loc"][:-1]]))
                lines.append(f"{origin}: field '{field}': unknown key (allowed: {allowed})")
            else:
                shown = "<redacted>" if field.rsplit(".", 1)[-1] in SECRET_FIELDS else repr(err.get("input"))
                lines.append(f"{origin}: field '{field}': {err['msg']} (got {shown})")
        raise ConfigError("invalid configuration\n  " + "\n  ".join(lines)) from None


def _origin(field: str, overridden: Mapping[str, str], source: str) -> str:
    """Where a field's value came from: the override of it or of a section above it, else ``source``."""
    parts = field.split(".")
    for depth in range(len(parts), 0, -1):
        found = overridden.get(".".join(parts[:depth]))
        if found:
            return found
    return source


def fields_at(model: type[BaseModel], path: Sequence[str]) -> list[str]:
    """The field names of the (sub)model at ``path`` under ``model`` (for error messages)."""
    for part in path:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return list(model.model_fields)
