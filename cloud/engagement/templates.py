"""Patient messages from Jinja2 templates, per language, rendered in a sandbox.

Templates live in ``templates/<language>/<name>.txt.j2``; a language without the template
falls back to English. Undefined variables are errors (StrictUndefined), so a message is
never sent with a blank where a number should be. Rendered text is a message body: it is
never logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import jinja2
from jinja2.sandbox import SandboxedEnvironment

TEMPLATES: Final = Path(__file__).parent / "templates"
FALLBACK_LANGUAGE: Final = "en"


class TemplateError(Exception):
    """A template is missing or cannot be rendered; the message names it, never the values."""


_env = SandboxedEnvironment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # plain-text SMS / email bodies, never HTML
    trim_blocks=True,
    keep_trailing_newline=False,
)


def languages() -> list[str]:
    return sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir())


def render(name: str, *, language: str, **context: Any) -> str:
    """Render template ``name`` in ``language`` (or English) with ``context``."""
    lang = language if (TEMPLATES / language / f"{name}.txt.j2").is_file() else FALLBACK_LANGUAGE
    try:
        template = _env.get_template(f"{lang}/{name}.txt.j2")
        return template.render(**context).strip()
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"no template {name!r}") from exc
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template {name!r} ({lang}) failed: {exc.message}") from exc
