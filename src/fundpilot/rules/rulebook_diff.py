"""What changed between two rulebook versions, in words the signatories can check.

A new rulebook version is approved by people, so its changes must read as sentences:
`milestone M3 "Care plan complete": price changed from $1,200.00 to $1,350.00`.
Lists are matched by their codes (a milestone's code, a payer's id, a decision
right's action/role/payers), never by position, so reordering a list is not a change
— except dispute stages, whose order is the route a dispute takes.

The walk is driven by the schema: every field of every section is compared, so a
field added to the schema later shows up in the diff without code here. The tables
below only choose the words.
"""

import typing
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from enum import Enum

from pydantic import BaseModel

from fundpilot.rules.money import MONEY_MARK, PERCENT_MARK, canonical_percent, format_usd
from fundpilot.rules.rulebook import (
    AcceptanceFloor,
    DecisionRight,
    EvidenceRequirement,
    Payer,
    PayerShare,
    QualityFloor,
    Rulebook,
    UpgradeTrigger,
)

# How one item of a list is called, by the list's field name.
_NOUNS = {
    "payers": "payer",
    "allowable_uses": "allowable use",
    "qualifying_service_categories": "qualifying service category",
    "approved_tools": "assessment tool",
    "exclusion_reasons": "exclusion reason",
    "bands": "acuity band",
    "subpopulation_flags": "subpopulation flag",
    "minimum_acceptance_rates": "minimum acceptance rate for",
    "referral_sources": "referral source",
    "activation_decisions": "activation decision",
    "rejection_reasons": "rejection reason",
    "pending_reasons": "pending reason",
    "removal_reasons": "removal reason",
    "barrier_categories": "barrier category",
    "escalation_thresholds": "escalation threshold",
    "stall_reasons": "stall reason",
    "verification_rejection_reasons": "verification rejection reason",
    "dispute_stages": "dispute stage",
    "geographies": "geography",
    "milestone_stages": "stage",
    "evidence_kinds": "evidence kind",
    "milestones": "milestone",
    "evidence": "evidence",
    "variants": "variant",
    "tranches": "tranche",
    "criteria": "criterion",
    "quality_floors": "quality floor",
    "service_levels": "service level",
    "upgrade_triggers": "upgrade trigger",
    "activity_types": "activity type",
    "episodes": "episode",
    "decision_rights": "decision right",
}

# Field names that read badly as words.
_LABELS = {
    "pmpm": "PMPM rate",
    "max_amount": "limit",
    "stop_loss": "stop-loss",
    "reearnable": "re-earnable after relapse",
}

# Sections whose lists read as top-level lines: `rejection reason R-X "…" added`.
_FLATTENED = {"codes"}

_ORDERED_LISTS = {"dispute_stages"}

_SPLIT_NAMES = {
    "milestone": "milestone payments",
    "tranche": "tranches",
    "pmpm": "PMPM",
    "episode": "episodes",
}

_DEADLINE_UNITS = {
    "eligibility_file": ("eligibility file", "business days"),
    "activation_decision": ("activation decision", "business days"),
    "pathway_release": ("pathway release", "business days"),
    "service_level_decision": ("service level decision", "business days"),
    "progression_review_calendar_days": ("progression review", "calendar days"),
    "verification": ("verification", "business days"),
    "dispute_resolution": ("dispute resolution", "business days"),
    "settlement_day_of_month": ("settlement day of month", ""),
    "assurance": ("assurance", ""),
}

# Longer text than this is reported as reworded rather than quoted in full.
_QUOTE_LIMIT = 60


def diff_rulebooks(old: Rulebook, new: Rulebook) -> list[str]:
    """Every difference from `old` to `new`, one sentence each; [] when identical."""
    lines: list[str] = []
    for name in Rulebook.model_fields:
        a, b = getattr(old, name), getattr(new, name)
        if a == b:
            continue
        if name == "deadlines":
            lines += _diff_deadlines(a, b)
        elif name == "payment_split":
            for kind, label in _SPLIT_NAMES.items():
                where = f"payment split for {label}"
                lines += _diff_shares(where, getattr(a, kind), getattr(b, kind))
        elif name in _FLATTENED:
            lines += _diff_model("", a, b)
        elif isinstance(a, BaseModel) or isinstance(b, BaseModel):
            lines += _diff_section(_label(name), a, b)
        else:
            lines += _diff_items("", name, a, b)
    return lines


def _label(name: str) -> str:
    return _LABELS.get(name, name.replace("_", " "))


def _line(where: str, text: str) -> str:
    return f"{where}: {text}" if where else text


def _diff_section(label: str, a: BaseModel | None, b: BaseModel | None) -> list[str]:
    if a is None:
        return [f"{label} section added"]
    if b is None:
        return [f"{label} section removed"]
    return _diff_model(label, a, b)


def _diff_model(where: str, old: BaseModel, new: BaseModel) -> list[str]:
    lines: list[str] = []
    for name in type(old).model_fields:
        a, b = getattr(old, name), getattr(new, name)
        if a == b:
            continue
        if isinstance(a, tuple) or isinstance(b, tuple):
            if _holds(BaseModel, a, b):
                if _holds(PayerShare, a, b):
                    lines += _diff_shares(_line(where, _label(name)), a, b)
                else:
                    lines += _diff_items(where, name, a, b)
            else:
                lines.append(_line(where, _diff_values(_label(name), a, b)))
        elif isinstance(a, dict):
            lines += _diff_mapping(where, _label(name), a, b)
        elif isinstance(a, BaseModel) and isinstance(b, BaseModel):
            lines += _diff_model(_line(where, _label(name)), a, b)
        elif isinstance(a, BaseModel) or isinstance(b, BaseModel):
            lines.append(_line(where, f"{_label(name)} {'added' if a is None else 'removed'}"))
        else:
            lines.append(_line(where, _diff_scalar(type(old), name, a, b)))
    return lines


def _holds(kind: type, a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    return any(isinstance(item, kind) for item in (*a, *b))


# --- keyed lists --------------------------------------------------------------------


# What identifies an item in its list; every item not named here has a `code`.
_KEYS: dict[type, Callable[[typing.Any], str]] = {
    Payer: lambda p: p.id,
    EvidenceRequirement: lambda e: e.kind,
    AcceptanceFloor: lambda f: f.cohort,
    QualityFloor: lambda f: f.measure,
    DecisionRight: lambda r: r.key,
    UpgradeTrigger: lambda t: t.kind.value,
}


def _key(item: BaseModel) -> str:
    for kind, key in _KEYS.items():
        if isinstance(item, kind):
            return key(item)
    return str(getattr(item, "code", ""))


def _item_name(list_name: str, item: BaseModel) -> str:
    noun = _NOUNS.get(list_name, list_name.removesuffix("s"))
    title = getattr(item, "name", None) or getattr(item, "label", None)
    if isinstance(title, str) and not isinstance(item, Payer | DecisionRight):
        return f'{noun} {_key(item)} "{title}"'
    return f"{noun} {_key(item)}"


def _diff_items(
    where: str, list_name: str, old: Sequence[BaseModel], new: Sequence[BaseModel]
) -> list[str]:
    before = {_key(item): item for item in old}
    after = {_key(item): item for item in new}
    lines: list[str] = []
    for key, item in after.items():
        name = _item_name(list_name, item)
        if key not in before:
            lines.append(_line(where, f"{name} added"))
        elif before[key] != item:
            lines += _diff_model(_line(where, name), before[key], item)
    for key, item in before.items():
        if key not in after:
            lines.append(_line(where, f"{_item_name(list_name, item)} removed"))
    if list_name in _ORDERED_LISTS:
        kept_before = [k for k in before if k in after]
        kept_after = [k for k in after if k in before]
        if kept_before != kept_after:
            order = f"{', '.join(kept_before)} → {', '.join(kept_after)}"
            lines.append(_line(where, f"{_label(list_name)} reordered: {order}"))
    return lines


def _diff_shares(where: str, old: Sequence[PayerShare], new: Sequence[PayerShare]) -> list[str]:
    before = {s.payer: s for s in old}
    after = {s.payer: s for s in new}
    lines: list[str] = []
    for payer, share in after.items():
        was = before.get(payer)
        if was is None:
            lines.append(f"{where}: {payer} added with {_percent(share.share)} ({share.use})")
            continue
        if was.share != share.share:
            change = f"changed from {_percent(was.share)} to {_percent(share.share)}"
            lines.append(f"{where}: {payer} share {change}")
        if was.use != share.use:
            lines.append(f"{where}: {payer} charged to {share.use} instead of {was.use}")
    for payer, share in before.items():
        if payer not in after:
            lines.append(f"{where}: {payer} removed (was {_percent(share.share)})")
    return lines


def _diff_mapping(
    where: str, label: str, old: dict[typing.Any, object], new: dict[typing.Any, object]
) -> list[str]:
    lines: list[str] = []
    for key in [*new, *(k for k in old if k not in new)]:
        a, b = old.get(key), new.get(key)
        if a != b:
            lines.append(_line(where, _change(f"{label} {_plain(key)}", _show(a), _show(b))))
    return lines


# --- scalars ------------------------------------------------------------------------


def _diff_values(label: str, a: Sequence[object], b: Sequence[object]) -> str:
    def listed(values: Sequence[object]) -> str:
        return ", ".join(_plain(v) for v in values) or "none"

    return f"{label} changed from {listed(a)} to {listed(b)}"


def _diff_deadlines(old: BaseModel, new: BaseModel) -> list[str]:
    lines = []
    for name, (label, unit) in _DEADLINE_UNITS.items():
        a, b = getattr(old, name), getattr(new, name)
        if a == b:
            continue
        if a is None or b is None:
            change = f"{_with_unit(a, unit)} → {_with_unit(b, unit)}"
        else:
            change = f"{_plain(a)} → {_plain(b)} {unit}".rstrip()
        lines.append(f"deadline {label}: {change}")
    return lines


def _with_unit(value: object, unit: str) -> str:
    return "none" if value is None else f"{_plain(value)} {unit}".rstrip()


def _diff_scalar(model: type[BaseModel], name: str, a: object, b: object) -> str:
    label = _label(name)
    mark = _mark(model.model_fields[name].annotation, model.model_fields[name].metadata)
    if mark is MONEY_MARK:
        if name == "max_amount" and isinstance(a, Decimal) and isinstance(b, Decimal):
            direction = "raised" if b > a else "lowered"
            return f"{label} {direction} from {format_usd(a)} to {format_usd(b)}"
        if name == "max_amount" and isinstance(a, Decimal):
            return f"{label} removed: no upper amount now (was {format_usd(a)})"
        return _change(label, _money(a), _money(b))
    if mark is PERCENT_MARK:
        return _change(label, _percent(a), _percent(b))
    if _is_long_text(a) or _is_long_text(b):
        if a is None or b is None:
            return f"{label} {'added' if a is None else 'removed'}"
        return f"{label} reworded"
    return _change(label, _show(a), _show(b))


def _change(label: str, a: str | None, b: str | None) -> str:
    if a is None:
        return f"{label} set to {b}"
    if b is None:
        return f"{label} removed (was {a})"
    return f"{label} changed from {a} to {b}"


def _mark(annotation: object, metadata: Sequence[object]) -> object:
    """MONEY_MARK or PERCENT_MARK when the field holds money or a percentage."""
    for item in (*metadata, *typing.get_args(annotation)):
        if item is MONEY_MARK or item is PERCENT_MARK:
            return item
        if typing.get_args(item):
            found = _mark(item, ())
            if found is not None:
                return found
    return None


def _is_long_text(value: object) -> bool:
    return isinstance(value, str) and (len(value) > _QUOTE_LIMIT or "\n" in value)


def _money(value: object) -> str | None:
    return format_usd(value) if isinstance(value, Decimal) else None


def _percent(value: object) -> str | None:
    return f"{canonical_percent(value)}%" if isinstance(value, Decimal) else None


def _show(value: object) -> str | None:
    """A field's value as written in a sentence: free text quoted, None as absent."""
    if value is None:
        return None
    if isinstance(value, str) and not isinstance(value, Enum):
        return f'"{value}"'
    return _plain(value)


def _plain(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
