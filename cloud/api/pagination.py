"""Limit/offset pagination shared by every list endpoint: a JSON array plus ``X-Total-Count``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
TOTAL_HEADER = "X-Total-Count"


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many items.")] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Skip this many.")] = 0,
) -> Page:
    return Page(limit, offset)


PageDep = Annotated[Page, Depends(page_params)]


def paginate(session: Session, stmt: Select[Any], page: Page, response: Response) -> list[Any]:
    """Run ``stmt`` (already ordered) for one page; the total goes in ``X-Total-Count``."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    response.headers[TOTAL_HEADER] = str(total or 0)
    return list(session.scalars(stmt.limit(page.limit).offset(page.offset)))
