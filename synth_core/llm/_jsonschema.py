"""A small JSON-schema checker for the subset our schemas use.

Replies are validated whether or not the server enforced the schema (the
embedded server's ``json_object`` mode ignores ``minimum``/``maximum``; hosted
servers differ), so the check lives here. Supported keywords: ``type``,
``enum``, ``const``, ``properties``, ``required``, ``additionalProperties``
(false), ``items``, ``minItems``, ``maxItems``, ``minimum``, ``maximum``, ``anyOf``.
"""

from __future__ import annotations

__all__ = ["schema_errors"]

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        isinstance(v, int) and not isinstance(v, bool) or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_errors(value, schema: dict, path: str = "$") -> list[str]:
    """Every way ``value`` breaks ``schema``, as ``'$.rows[2].age: 150 is above the maximum 95'``.

    Examples
    --------
    >>> schema_errors({"a": 5}, {"type": "object", "properties": {"a": {"maximum": 3}}, "required": ["a"]})
    ['$.a: 5 is above the maximum 3']
    """
    errors: list[str] = []
    if "anyOf" in schema:
        branches = [schema_errors(value, s, path) for s in schema["anyOf"]]
        if all(branches):
            best = min(branches, key=len)
            errors.append(f"{path}: matches none of {len(branches)} alternatives ({best[0]})")
        return errors
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else list(types)
        if not any(_TYPES[t](value) for t in types):
            return [f"{path}: expected {' or '.join(types)}, got {type(value).__name__}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: expected {schema['const']!r}")
    if "enum" in schema and not any(
        value == e and type(value) is type(e) or (_num(value) and _num(e) and value == e)
        for e in schema["enum"]
    ):
        errors.append(f"{path}: {value!r} is not one of the allowed values")
    if _num(value):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value!r} is below the minimum {schema['minimum']!r}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value!r} is above the maximum {schema['maximum']!r}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing key {key!r}")
        if schema.get("additionalProperties") is False:
            extra = [k for k in value if k not in props]
            if extra:
                errors.append(f"{path}: unexpected key(s) {', '.join(map(repr, extra))}")
        for key, sub in props.items():
            if key in value:
                errors.extend(schema_errors(value[key], sub, f"{path}.{key}"))
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{path}: {len(value)} item(s), at least {schema['minItems']} needed")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: {len(value)} item(s), at most {schema['maxItems']} allowed")
        if "items" in schema:
            for i, item in enumerate(value):
                errors.extend(schema_errors(item, schema["items"], f"{path}[{i}]"))
    return errors


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
