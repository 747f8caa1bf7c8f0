"""Path and query parameter types shared by the routers (ids as the wire defines them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
"""``gateway.wire.Identifier``: letters, digits and ``._:-``, at most 128 characters."""

IdQuery = Annotated[str, Query(pattern=ID_PATTERN)]
IdPath = Annotated[str, Path(pattern=ID_PATTERN)]
IntPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
