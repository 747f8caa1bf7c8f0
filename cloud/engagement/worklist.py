"""The care team's worklist: tasks opened by patients' replies ("please call me", a reply a
person must read), listed and marked done by the API and the web inbox alike."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from cloud.api.deps import Principal
from cloud.auth.scope import visible_patient_ids
from cloud.errors import ConflictError, NotFoundError
from cloud.store.lifecycle import Task, TaskStatus


def tasks_for(principal: Principal, *, status: str = TaskStatus.OPEN) -> Select[Task]:
    """The tasks of the patients this caller may see (``status``: open, done or all)."""
    stmt = select(Task).where(
        Task.organisation_id == principal.organisation_id,
        Task.patient_id.in_(visible_patient_ids(principal)),
    )
    return stmt if status == "all" else stmt.where(Task.status == status)


def complete(
    session: Session, principal: Principal, *, task_id: int, note: str | None, now: datetime
) -> Task:
    """Mark a task done by this caller; a task they may not see is "not found"."""
    task = session.scalars(tasks_for(principal, status="all").where(Task.id == task_id)).first()
    if task is None:
        raise NotFoundError(f"no task {task_id}")
    if task.status == TaskStatus.DONE:
        raise ConflictError(f"task {task_id} was completed at {task.done_at:%Y-%m-%d %H:%M} UTC")
    task.status, task.done_at, task.done_by = TaskStatus.DONE, now, principal.user_id
    task.note = note
    return task
