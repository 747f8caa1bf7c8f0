"""The declarative base every table of the record shares."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, String
from sqlalchemy.orm import DeclarativeBase

from cloud.store.types import UtcDateTime

ID = String(160)
"""Reading and measurement ids (gateway-made, stable)."""
WIRE_ID = String(128)
"""Patient, device and gateway ids as they travel on the wire (``gateway.wire.Identifier``)."""


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), dict[str, Any]: JSON}
