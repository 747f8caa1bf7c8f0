"""Patient messages read like a person wrote them, in the patient's language, never blank."""

from __future__ import annotations

import pytest

from cloud.engagement.templates import TemplateError, languages, render

PATIENT = {"first_name": "Ada", "care_team": "the Riverside heart team"}


def test_remeasure_prompt_carries_the_numbers_and_the_care_team() -> None:
    text = render("remeasure_bp", language="en", systolic=182, diastolic=114, **PATIENT)
    assert text.startswith("Hello Ada, your blood pressure was 182/114.")
    assert "sit quietly for 5 minutes and measure again" in text
    assert text.endswith("- the Riverside heart team")


def test_weekly_summary_encourages_by_how_the_week_went() -> None:
    good = render(
        "weekly_summary",
        language="en",
        days=6,
        average="128/82",
        metric_label="blood pressure",
        **PATIENT,
    )
    assert "6 of 7 days - great consistency" in good
    assert "Your average blood pressure was 128/82." in good
    sparse = render(
        "weekly_summary", language="en", days=1, average=None, metric_label="weight", **PATIENT
    )
    assert "1 of 7 days. A reading every day helps" in sparse
    assert "average" not in sparse


def test_language_and_fallback() -> None:
    assert {"en", "es"} <= set(languages())
    es = render("adherence_nudge", language="es", measurement="presión arterial", **PATIENT)
    assert es.startswith("Hola Ada, hoy no hemos recibido su presión arterial")
    fr = render("adherence_nudge", language="fr", measurement="weight", **PATIENT)
    assert fr.startswith("Hi Ada, we have not received your weight today.")


def test_a_missing_value_or_template_is_an_error_not_a_blank() -> None:
    with pytest.raises(TemplateError, match="'systolic' is undefined"):
        render("remeasure_bp", language="en", diastolic=114, **PATIENT)
    with pytest.raises(TemplateError, match="no template 'birthday'"):
        render("birthday", language="en", **PATIENT)
