"""Building a model from values that are already valid, without validating them again.

`trusted(Model, **values)` is pydantic's `Model.model_construct(**values)` for the models of
this project, at about half its cost: model_construct walks every field of the model on
every call (aliases, defaults, validated-data bookkeeping), which for a response or a journal
record built on every payment was the largest single pydantic cost of a transfer (measured:
6.2 us -> 2.7 us for `Payment`). The per-class work is done once, here:

- Rule 1: the result is what model_construct gives: every field in declaration order (a
  default where no value is given), `model_fields_set` the names given, no extra and no
  private values. A model this cannot build that way (private attributes, extra allowed, a
  post-init hook, a default factory or a mutable default, a field given by its alias) is
  handed to model_construct.
- Rule 2: the values are trusted, not checked: callers pass what a service or a validated
  request already holds (responses, records, commands). A required field left out raises
  TypeError naming it, instead of leaving an object with the field missing; so does a name
  that is not a field (model_construct would drop it silently).
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_IMMUTABLE = (type(None), str, int, float, bool, bytes, Decimal, Enum, frozenset)


class _Plan:
    __slots__ = ("aliases", "fast", "names", "required", "template")

    def __init__(self, model: type[BaseModel]) -> None:
        self.template: dict[str, Any] = {}
        self.required: frozenset[str] = frozenset(
            name for name, f in model.model_fields.items() if f.is_required())
        fast = not (model.__private_attributes__ or model.model_config.get("extra") == "allow"
                    or model.__pydantic_post_init__ is not None
                    or model.__pydantic_root_model__)
        self.aliases: set[str] = set()
        for name, f in model.model_fields.items():
            for alias in (f.alias, f.validation_alias):
                if isinstance(alias, str):
                    self.aliases.add(alias)
                elif alias is not None:  # AliasPath, AliasChoices: model_construct's own work
                    fast = False
            if f.is_required():
                self.template[name] = None
            elif f.default_factory is None and _immutable(f.default):
                self.template[name] = f.default
            else:
                fast = False
        self.names = frozenset(self.template)
        self.fast = fast


def _immutable(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_immutable(v) for v in value)
    return isinstance(value, _IMMUTABLE)


_PLANS: dict[type[BaseModel], _Plan] = {}
_set = object.__setattr__


def trusted(model: type[M], **values: Any) -> M:
    """`model` holding `values`, unvalidated (see the module docstring)."""
    plan = _PLANS.get(model)
    if plan is None:
        plan = _PLANS[model] = _Plan(model)
    if not plan.fast:
        return model.model_construct(**values)
    given = values.keys()
    if not given <= plan.names and given - plan.names <= plan.aliases:
        return model.model_construct(**values)  # a field named by its alias
    if not plan.required <= given <= plan.names:
        problems = [f"missing {name}" for name in sorted(plan.required - given)]
        problems += [f"no field {name}" for name in sorted(given - plan.names)]
        raise TypeError(f"{model.__name__}: {', '.join(problems)}")
    data = plan.template.copy()  # declaration order; given values replace in place
    data.update(values)
    obj = model.__new__(model)
    _set(obj, "__dict__", data)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj
