"""The thresholds editor through the real app: values as the service has them, locks, field
errors, the replay preview of proposed levels, and saving a version like the API's PUT."""

from __future__ import annotations

import re

from cloud.store.tenancy import Patient
from cloud.thresholds import service
from tests.fixtures.api import World
from tests.web.conftest import NOW
from tests.web.test_pages import _csrf, sign_in

HR = "general.hr"


def _field(html: str, name: str) -> str:
    found = re.search(rf'<input id="[^"]+" name="{re.escape(name)}"[^>]*>', html)
    assert found, f"no field {name}"
    return found.group(0)


def _value(html: str, name: str) -> str:
    found = re.search(r'value="([^"]*)"', _field(html, name))
    assert found
    return found.group(1)


def _rulebook(world: World) -> object:
    return world.client.app.state.services.rulebook  # type: ignore[attr-defined]


def test_the_editor_shows_the_rules_in_force_with_defaults_and_locks(web_world: World) -> None:
    sign_in(web_world, "clin@north.test")
    html = web_world.client.get("/patients/p-n1/thresholds").text
    api = web_world.get("/api/v1/patients/p-n1/thresholds", "clin@north.test").json()
    for rule in api["rules"]:
        for level in (
            "fire_low",
            "fire_high",
            "clear_low",
            "clear_high",
            "urgent_low",
            "urgent_high",
        ):
            if level in rule["definition"]:
                value = rule["definition"][level]
                assert _value(html, f"{level}@{rule['rule_id']}") == (
                    "" if value is None else f"{value:g}"
                )
    assert "fire high</label>" in html
    assert "program: 131" in html
    sbp = html.split('data-rule="general.sbp"')[1].split("</fieldset>")[0]
    assert "locked by the program" in sbp
    assert "disabled" in _field(html, "fire_low@general.sbp")
    assert "disabled" not in _field(html, f"fire_high@{HR}")
    assert 'hx-post="/patients/p-n1/thresholds/preview"' in html
    assert '<a href="/patients/p-n1/thresholds">' in web_world.client.get("/patients/p-n1").text


def test_scope_role_and_csrf(web_world: World) -> None:
    sign_in(web_world, "coord@north.test")
    assert web_world.client.get("/patients/p-n2/thresholds").status_code == 404  # not on their team
    page = web_world.client.get("/patients/p-n1/thresholds").text
    assert "Save thresholds" not in page
    assert "disabled" in _field(page, f"fire_high@{HR}")
    r = web_world.client.post("/patients/p-n1/thresholds", data={"csrf_token": _csrf(page), f"fire_high@{HR}": "100"})  # fmt: skip
    assert r.status_code == 403
    sign_in(web_world, "clin@north.test")
    assert web_world.client.get("/patients/p-s1/thresholds").status_code == 404
    r = web_world.client.post("/patients/p-n1/thresholds", data={f"fire_high@{HR}": "100"})
    assert r.status_code == 403
    csrf = _csrf(web_world.client.get("/patients/p-n1/thresholds").text)
    assert (
        web_world.client.post("/patients/p-s1/thresholds", data={"csrf_token": csrf}).status_code
        == 404
    )
    assert (
        web_world.get("/api/v1/patients/p-n1/thresholds", "clin@north.test").json()["version"] == 0
    )


def _form(html: str, **changes: str) -> dict[str, str]:
    """Every editable level of the page as it shows it, with ``changes`` applied."""
    fields = dict(re.findall(r'name="([a-z_]+@[^"]+)"[^>]*?value="([^"]*)"(?![^>]*disabled)', html))
    fields.update(changes)
    fields["csrf_token"] = _csrf(html)
    base = re.search(r'name="base_version" value="(\d+)"', html)
    assert base
    fields["base_version"] = base.group(1)
    return fields


def test_a_value_that_is_not_a_number_is_shown_next_to_its_field(web_world: World) -> None:
    sign_in(web_world, "clin@north.test")
    html = web_world.client.get("/patients/p-n1/thresholds").text
    r = web_world.client.post(
        "/patients/p-n1/thresholds", data=_form(html, **{f"fire_high@{HR}": "12o"})
    )
    assert r.status_code == 422
    field = _field(r.text, f"fire_high@{HR}")
    assert 'value="12o"' in field
    assert 'aria-invalid="true"' in field
    error_id = re.search(r'aria-describedby="[^"]* ([^" ]+-error)"', field)
    assert error_id
    assert f'<span class="error" id="{error_id.group(1)}">Enter a number' in r.text
    assert (
        web_world.get("/api/v1/patients/p-n1/thresholds", "clin@north.test").json()["version"] == 0
    )


def test_levels_the_rule_book_refuses_are_shown_at_their_rule(web_world: World) -> None:
    sign_in(web_world, "clin@north.test")
    html = web_world.client.get("/patients/p-n1/thresholds").text
    # clear_high above fire_high contradicts the hysteresis.
    r = web_world.client.post(
        "/patients/p-n1/thresholds", data=_form(html, **{f"fire_high@{HR}": "110"})
    )
    assert r.status_code == 422
    rule = r.text.split(f'data-rule="{HR}"')[1].split("</fieldset>")[0]
    assert "clear_high must not exceed fire_high" in rule


def test_preview_then_save_as_the_service_does(web_world: World) -> None:
    sign_in(web_world, "clin@north.test")
    html = web_world.client.get("/patients/p-n1/thresholds").text
    proposed = {f"fire_high@{HR}": "100", f"clear_high@{HR}": "95"}
    preview = web_world.client.post(
        "/patients/p-n1/thresholds/preview", data=_form(html, **proposed)
    )
    shown = re.search(
        r"\((\d+) readings\) these rules would have fired <strong>(\d+)</strong>", preview.text
    )
    assert shown, preview.text
    with web_world.session() as s:
        patient = s.get(Patient, "p-n1")
        assert patient is not None
        since, until = service.replay_window(NOW, 30)
        done = service.replay(
            s, _rulebook(web_world),  # type: ignore[arg-type]
            patient=patient, rule_dicts=None,
            overrides=[{"rule_id": HR, "fire_high": 100.0, "clear_high": 95.0}], since=since, until=until,
        )  # fmt: skip
        current = service.replay(
            s, _rulebook(web_world),  # type: ignore[arg-type]
            patient=patient, rule_dicts=None, overrides=None, since=since, until=until,
        )  # fmt: skip
    assert (int(shown.group(1)), int(shown.group(2))) == (done.readings, len(done.findings))
    assert len(done.findings) > len(current.findings)
    # Nothing was stored by the preview.
    assert (
        web_world.get("/api/v1/patients/p-n1/thresholds", "clin@north.test").json()["version"] == 0
    )
    r = web_world.client.post("/patients/p-n1/thresholds", data={**_form(html, **proposed), "note": "post-op"}, follow_redirects=False)  # fmt: skip
    assert (r.status_code, r.headers["location"]) == (303, "/patients/p-n1/thresholds?notice=Saved%20as%20version%201")  # fmt: skip
    api = web_world.get("/api/v1/patients/p-n1/thresholds", "clin@north.test").json()
    assert (api["version"], api["note"], api["overrides"]) == (
        1, "post-op", [{"rule_id": HR, "fire_high": 100.0, "clear_high": 95.0}],
    )  # fmt: skip
    page = web_world.client.get(r.headers["location"]).text
    assert "Saved as version 1" in page
    assert _value(page, f"fire_high@{HR}") == "100"
    # Back to the program's level: the override goes, the version moves on.
    again = web_world.client.post("/patients/p-n1/thresholds", data=_form(page, **{f"fire_high@{HR}": "131", f"clear_high@{HR}": "120"}))  # fmt: skip
    assert "Saved as version 2" in again.text
    assert (
        web_world.get("/api/v1/patients/p-n1/thresholds", "clin@north.test").json()["overrides"]
        == []
    )
    # A form made on version 0 is refused now (someone saved since).
    stale = web_world.client.post("/patients/p-n1/thresholds", data=_form(html, **proposed))
    assert stale.status_code == 409
    assert "the thresholds changed since version 0" in stale.text
