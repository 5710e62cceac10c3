"""The `bank-adapter up` flags, the `BANK_ADAPTER_*` environment variables and the README's
settings table, all generated from `adapter.config.Settings`, so that a setting cannot exist
without its flag, its variable and its line in the documentation.

Each field `some_name` of the model becomes one flag `--some-name` and one variable
`BANK_ADAPTER_SOME_NAME`; its description, default, type, choices (an Enum or a Literal) and
constraints (ge/gt/le/lt, min/max length) make the help text and the checks.

Invariants:
- Rule 1: precedence is flag, then environment variable, then the model's default.
- Rule 2: a value is validated where it is read, by pydantic against the field's own type and
  constraints. A refusal is a `SettingError` whose text is one line naming the flag or the
  variable, the value refused, and what is allowed.
- Rule 3: a list-valued field is a repeatable flag (one item per occurrence) and a
  comma-separated variable; flags given replace the variable's list, they do not extend it.
- Rule 4: a boolean field is `--name` / `--no-name`, and a variable pydantic reads as a bool
  (true/false, 1/0, yes/no, on/off).
"""

from __future__ import annotations

import argparse
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from adapter.config import LIST_SEPARATOR, Settings, env_defaults, env_name, is_list_field
from adapter.infra.logmask import mask_url_password


class SettingError(ValueError):
    """A flag, a variable or a combination refused; `str()` is the one line to print."""


@dataclass(frozen=True)
class SettingSpec:
    """What the command line and the documentation know about one field."""

    field: str
    flag: str
    env: str
    description: str
    default: Any
    is_list: bool
    is_bool: bool
    choices: tuple[str, ...]
    limits: str
    metavar: str
    item: TypeAdapter[Any]

    def parse(self, raw: str) -> Any:
        """One value (for a list field: one item) from its text (Rule 2). A refused URL is
        quoted with its password masked."""
        try:
            return self.item.validate_python(raw)
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise SettingError(f"invalid value {mask_url_password(raw)!r}: "
                               f"{msg[:1].lower()}{msg[1:]}") from None

    @property
    def default_text(self) -> str:
        return _text(self.default)

    @property
    def help(self) -> str:
        notes = [self.limits] if self.limits else []
        if self.is_list:
            notes.append("repeatable")
        notes.append(f"default {self.default_text}")
        notes.append(f"env {self.env}" + (", comma-separated" if self.is_list else ""))
        # argparse %-formats help strings.
        return f"{self.description} ({'; '.join(notes)})".replace("%", "%%")


def _text(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple | set | frozenset):
        return LIST_SEPARATOR.join(_text(v) for v in value) or "none"
    return str(value)


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _choices(annotation: Any) -> tuple[str, ...]:
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return tuple(str(m.value) for m in annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return tuple(str(a) for a in typing.get_args(annotation))
    return ()


def _limits(metadata: list[Any]) -> str:
    bounds: dict[str, Any] = {}
    for item in metadata:
        for key in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            value = getattr(item, key, None)
            if value is not None:
                bounds[key] = value
    parts = []
    if "ge" in bounds and "le" in bounds:
        parts.append(f"{_text(bounds['ge'])}-{_text(bounds['le'])}")
    else:
        for key, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if key in bounds:
                parts.append(f"{sign} {_text(bounds[key])}")
    shortest, longest = bounds.get("min_length"), bounds.get("max_length")
    if shortest is not None and shortest == longest:
        parts.append(f"exactly {shortest} characters")
    else:
        if shortest == 1:
            parts.append("not empty")
        elif shortest is not None:
            parts.append(f"at least {shortest} characters")
        if longest is not None:
            parts.append(f"at most {longest} characters")
    return ", ".join(parts)


_METAVARS: dict[Any, str] = {int: "N", float: "NUMBER", Path: "PATH", str: "TEXT", bool: ""}


def _spec(name: str, info: FieldInfo, model: type[BaseModel]) -> SettingSpec:
    if not info.description:
        raise TypeError(f"{model.__name__}.{name} has no description= (every setting needs one)")
    is_list = is_list_field(name, model)
    annotation = _strip_optional(info.annotation)
    if is_list:
        item_type = _strip_optional(typing.get_args(annotation)[0])
        item = TypeAdapter(item_type)
    else:
        item_type = annotation
        item = TypeAdapter(Annotated[item_type, *info.metadata] if info.metadata else item_type)
    choices = _choices(item_type)
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    metavar = str(extra.get("metavar") or ("{" + ",".join(choices) + "}" if choices
                                           else _METAVARS.get(item_type, "VALUE")))
    # A constraint no metadata states (a URL scheme) is written out as "allowed".
    limits = "" if is_list else str(extra.get("allowed") or _limits(info.metadata))
    return SettingSpec(
        field=name, flag="--" + name.replace("_", "-"), env=env_name(name),
        description=info.description, default=info.get_default(call_default_factory=True),
        is_list=is_list, is_bool=item_type is bool and not is_list, choices=choices,
        limits=limits, metavar=metavar, item=item)


@functools.cache
def specs(model: type[BaseModel] = Settings) -> tuple[SettingSpec, ...]:
    return tuple(_spec(name, info, model) for name, info in model.model_fields.items())


def _flag_type(spec: SettingSpec) -> Any:
    def parse(raw: str) -> Any:
        try:
            return spec.parse(raw)
        except SettingError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = spec.field
    return parse


def add_flags(parser: argparse.ArgumentParser, model: type[BaseModel] = Settings) -> None:
    """One flag per field; every default is None so that Rule 1 can tell "not given"."""
    group = parser.add_argument_group(
        "settings", "each also read from its environment variable; a flag wins over it")
    for spec in specs(model):
        if spec.is_bool:
            group.add_argument(spec.flag, dest=spec.field, action=argparse.BooleanOptionalAction,
                               default=None, help=spec.help)
        else:
            group.add_argument(spec.flag, dest=spec.field, type=_flag_type(spec), default=None,
                               metavar=spec.metavar, help=spec.help,
                               action="append" if spec.is_list else "store")


def _one_line(exc: ValidationError, model: type[BaseModel]) -> str:
    by_field = {s.field: s for s in specs(model)}
    problems = []
    for error in exc.errors():
        spec = by_field.get(str(error["loc"][0])) if error["loc"] else None
        where = f"{spec.flag} / {spec.env}" if spec else "settings"
        problems.append(f"{where}: {error['msg'][:1].lower()}{error['msg'][1:]}")
    return "; ".join(problems)


def settings_from(args: argparse.Namespace, environ: Mapping[str, str] | None = None,
                  model: type[BaseModel] = Settings) -> Any:
    """The model from the parsed flags and the environment (Rule 1); SettingError if refused."""
    env = env_defaults(environ, model)
    values: dict[str, Any] = {}
    for spec in specs(model):
        given = getattr(args, spec.field, None)
        if given is not None:
            values[spec.field] = given
        elif spec.field in env:
            raw = env[spec.field]
            try:
                values[spec.field] = ([spec.parse(r) for r in raw] if isinstance(raw, list)
                                      else spec.parse(raw))
            except SettingError as exc:
                raise SettingError(f"environment variable {spec.env}: {exc}") from None
    try:
        return model(**values)
    except ValidationError as exc:
        raise SettingError(_one_line(exc, model)) from None


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(model: type[BaseModel] = Settings) -> str:
    """The README's settings table (a test asserts the README holds exactly this)."""
    lines = ["| flag | environment variable | default | allowed | what |",
             "| --- | --- | --- | --- | --- |"]
    for s in specs(model):
        flag = f"`{s.flag}`" + (" (repeatable)" if s.is_list else "")
        if s.is_bool:
            flag = f"`{s.flag}` / `--no-{s.flag[2:]}`"
        allowed = ", ".join(f"`{c}`" for c in s.choices) or s.limits
        if s.is_list:
            allowed = ", ".join(p for p in (allowed, "comma-separated in the variable") if p)
        lines.append(f"| {flag} | `{s.env}` | {_cell(s.default_text)} | {_cell(allowed)} | "
                     f"{_cell(s.description)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
