"""GET /api/v1/docs: the OpenAPI document as one plain HTML page.

FastAPI's own docs pages load JavaScript and styles from a CDN, which an
appliance on an isolated network cannot reach and should not trust. This
page is rendered on the server from the same document as openapi.json, so
the two cannot disagree, and needs no script at all.
"""

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from jinja2 import Environment, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

JSONSchema = dict[str, Any]

_REF = "#/components/schemas/"
_METHODS = ("get", "post", "put", "patch", "delete")
_CONSTRAINTS = (
    ("minLength", "at least {} characters"),
    ("maxLength", "at most {} characters"),
    ("minimum", "at least {}"),
    ("maximum", "at most {}"),
    ("minItems", "at least {} items"),
    ("maxItems", "at most {} items"),
    ("pattern", "matches {}"),
)


def _counted(text: str, value: Any) -> str:
    """'at most 3650', not '3650.0'; 'at least 1 character', not '1 characters'."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value == 1:
        text = text.replace("characters", "character").replace("items", "item")
    return text.format(value)


# Only this page's own stylesheet and nothing else, from anywhere.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    notes: str
    description: str
    ref: str | None = None


@dataclass(frozen=True)
class Answer:
    status: str
    description: str
    media: str
    schema: str
    ref: str | None


@dataclass(frozen=True)
class Operation:
    anchor: str
    method: str
    path: str
    summary: str
    description: str
    parameters: list[Field]
    body_media: str
    body: list[Field]
    answers: list[Answer]


@dataclass
class Group:
    tag: str
    operations: list[Operation] = field(default_factory=list)


@dataclass(frozen=True)
class Model:
    name: str
    description: str
    fields: list[Field]
    kind: str


@router.get("/docs")
async def docs_page(request: Request) -> Response:
    document = request.app.openapi()
    page = _TEMPLATE.render(
        info=document.get("info", {}),
        spec_url=request.app.openapi_url,
        groups=_groups(document),
        models=_models(document),
    )
    return HTMLResponse(page, headers=HEADERS)


def _groups(document: JSONSchema) -> list[Group]:
    """Operations under their first tag, in the order the routes were declared."""
    groups: dict[str, Group] = {}
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            tag = (operation.get("tags") or ["other"])[0]
            groups.setdefault(tag, Group(tag)).operations.append(
                _operation(document, method, path, operation)
            )
    return list(groups.values())


def _operation(
    document: JSONSchema, method: str, path: str, operation: JSONSchema
) -> Operation:
    parameters = [
        Field(
            name=p["name"],
            type=f"{_type(p.get('schema', {}))} in {p['in']}",
            required=bool(p.get("required")),
            notes=_notes(p.get("schema", {})),
            description=p.get("description")
            or p.get("schema", {}).get("description", ""),
            ref=_ref_name(p.get("schema", {})),
        )
        for p in operation.get("parameters", [])
    ]

    body_media, body = "", []
    content = operation.get("requestBody", {}).get("content", {})
    for media, spec in content.items():
        body_media = media
        body = _fields(document, spec.get("schema", {}))
        break

    answers = []
    for status, answer in operation.get("responses", {}).items():
        for_media = answer.get("content") or {"": {}}
        for media, spec in for_media.items():
            schema = spec.get("schema", {})
            answers.append(
                Answer(
                    status=status,
                    description=answer.get("description", ""),
                    media=media,
                    schema=_type(schema) if schema else "",
                    ref=_ref_name(schema),
                )
            )
    return Operation(
        anchor=operation.get("operationId") or f"{method}-{path}",
        method=method.upper(),
        path=path,
        summary=operation.get("summary", ""),
        description=operation.get("description", ""),
        parameters=parameters,
        body_media=body_media,
        body=body,
        answers=answers,
    )


def _models(document: JSONSchema) -> list[Model]:
    schemas = document.get("components", {}).get("schemas", {})
    return [
        Model(
            name,
            schema.get("description", ""),
            _fields(document, schema),
            "" if "properties" in schema else _type(schema),
        )
        for name, schema in sorted(schemas.items())
    ]


def _fields(document: JSONSchema, schema: JSONSchema) -> list[Field]:
    """The properties of an object schema, following one reference."""
    ref = _ref_name(schema)
    if ref is not None:
        schema = document.get("components", {}).get("schemas", {}).get(ref, {})
    required = set(schema.get("required", []))
    return [
        Field(
            name=name,
            type=_type(prop),
            required=name in required,
            notes=_notes(prop),
            description=prop.get("description", ""),
            ref=_ref_name(prop),
        )
        for name, prop in schema.get("properties", {}).items()
    ]


def _ref_name(schema: JSONSchema) -> str | None:
    """The component a schema points at, directly, in a list or as nullable."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF):
        return ref.removeprefix(_REF)
    if "items" in schema:
        return _ref_name(schema["items"])
    for option in schema.get("anyOf", []):
        found = _ref_name(option)
        if found is not None:
            return found
    return None


def _type(schema: JSONSchema) -> str:
    """A short human reading of a JSON schema: 'array of string', 'integer or null'."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_type(option) for option in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "format" in schema:
        return f"{kind} ({schema['format']})"
    return kind


def _notes(schema: JSONSchema) -> str:
    notes = [_counted(text, schema[key]) for key, text in _CONSTRAINTS if key in schema]
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            notes.append(_notes(option))
    if "default" in schema and schema["default"] not in (None, []):
        notes.append(f"default {schema['default']}")
    return "; ".join(n for n in notes if n)


_env = Environment(autoescape=select_autoescape(default_for_string=True))

_TEMPLATE = _env.from_string(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ info.title }} {{ info.version }}</title>
<link rel="stylesheet" href="/appliance/static/style.css">
</head>
<body>
<main id="main">
<h1>{{ info.title }} <span class="hint">{{ info.version }}</span></h1>
{% for paragraph in (info.description or "").split("\n\n") %}
<p>{{ paragraph }}</p>
{% endfor %}
<p>The machine-readable document: <a href="{{ spec_url }}">{{ spec_url }}</a>.</p>
<nav aria-label="Operations">
<ul>
{% for group in groups %}
<li><a href="#tag-{{ group.tag }}">{{ group.tag }}</a>
<ul>
{% for op in group.operations %}
<li><a href="#{{ op.anchor }}"><code>{{ op.method }} {{ op.path }}</code></a>
{{ op.summary }}</li>
{% endfor %}
</ul></li>
{% endfor %}
<li><a href="#schemas">Schemas</a></li>
</ul>
</nav>
{% macro linked(text, ref) %}
{% if ref %}<a href="#schema-{{ ref }}">{{ text }}</a>{% else %}{{ text }}{% endif %}
{% endmacro %}
{% macro field_rows(fields) %}
<table>
<thead><tr><th scope="col">Name</th><th scope="col">Type</th>
<th scope="col">Required</th><th scope="col">Description</th></tr></thead>
<tbody>
{% for f in fields %}
<tr><td><code>{{ f.name }}</code></td>
<td>{{ linked(f.type, f.ref) }}</td>
<td>{{ "yes" if f.required else "no" }}</td>
<td>{{ f.description }}
{% if f.notes %}<span class="hint">({{ f.notes }})</span>{% endif %}</td></tr>
{% endfor %}
</tbody>
</table>
{% endmacro %}
{% for group in groups %}
<h2 id="tag-{{ group.tag }}">{{ group.tag }}</h2>
{% for op in group.operations %}
<section id="{{ op.anchor }}" aria-labelledby="{{ op.anchor }}-title">
<h3 id="{{ op.anchor }}-title"><code>{{ op.method }} {{ op.path }}</code>
— {{ op.summary }}</h3>
{% for paragraph in op.description.split("\n\n") if paragraph %}
<p>{{ paragraph }}</p>
{% endfor %}
{% if op.parameters %}
<h4>Parameters</h4>
{{ field_rows(op.parameters) }}
{% endif %}
{% if op.body_media %}
<h4>Request body <span class="hint">({{ op.body_media }})</span></h4>
{{ field_rows(op.body) }}
{% endif %}
<h4>Responses</h4>
<table>
<thead><tr><th scope="col">Status</th><th scope="col">Meaning</th>
<th scope="col">Content</th></tr></thead>
<tbody>
{% for a in op.answers %}
<tr><td>{{ a.status }}</td><td>{{ a.description }}</td>
<td>{% if a.media %}<code>{{ a.media }}</code>{% endif %}
{{ linked(a.schema, a.ref) }}</td></tr>
{% endfor %}
</tbody>
</table>
</section>
{% endfor %}
{% endfor %}
<h2 id="schemas">Schemas</h2>
{% for model in models %}
<section id="schema-{{ model.name }}" aria-labelledby="schema-{{ model.name }}-title">
<h3 id="schema-{{ model.name }}-title">{{ model.name }}</h3>
{% if model.description %}<p>{{ model.description }}</p>{% endif %}
{% if model.kind %}<p>{{ model.kind }}</p>{% endif %}
{% if model.fields %}{{ field_rows(model.fields) }}{% endif %}
</section>
{% endfor %}
</main>
</body>
</html>
"""
)
