"""Found by the API fuzz: an e-mail valid as sent but not as stored made POST /users fail
with a 500. E-mails are normalised first, then checked."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from cloud.auth.schemas import Email
from cloud.auth.service import normalise_email

EMAIL: TypeAdapter[str] = TypeAdapter(Email)


def test_email_is_checked_as_it_will_be_stored() -> None:
    assert EMAIL.validate_python("  Ada@Clinic.TEST ") == "ada@clinic.test"
    with pytest.raises(ValidationError):
        EMAIL.validate_python("ada@\x1f")  # str.strip() removes \x1f; nothing after the @
    for raw in ("Ada@Clinic.TEST", "x@y", "a.b+c@d.e"):
        assert EMAIL.validate_python(raw) == normalise_email(raw)
