"""Rulebook validation that a schema cannot express, and plain-words schema errors.

`schema_problems` turns pydantic's errors into `RulebookProblem`s with dotted paths
(`milestones[2].price`) and messages a person can act on. `cross_reference_problems`
checks a well-shaped rulebook against itself: codes are unique, references point at
things that exist, shares add up to 100, and each kind of pilot has what its controls
need. Every problem is collected, so one round of edits can fix them all.
"""

import difflib
import functools
import types
import typing
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from fundpilot.rules.calendar import is_known_calendar
from fundpilot.rules.money import allocate, canonical_percent, format_usd
from fundpilot.rules.rulebook import (
    ALL,
    CONTRACT_MILESTONE_TYPES,
    LIVE_USE_MILESTONE_TYPES,
    ActivationOutcome,
    DecisionAction,
    Milestone,
    PartialRelease,
    Payer,
    PayerShare,
    PaymentType,
    PilotKind,
    Rulebook,
    RulebookProblem,
    SampleDesign,
    Scope,
    ScoreRange,
    Tier,
    TriggerKind,
)

# --- schema errors ------------------------------------------------------------------


def dotted_path(loc: Sequence[int | str]) -> str:
    """('milestones', 3, 'price') -> 'milestones[3].price'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "[key]":  # pydantic's marker for a bad dict key
            path += f".{part}" if path else part
    return path or "<rulebook>"


def schema_problems(error: ValidationError, root: type[BaseModel]) -> list[RulebookProblem]:
    """Every pydantic error as a dotted path and a plain message."""
    return [RulebookProblem(dotted_path(e["loc"]), _plain_message(e, root)) for e in error.errors()]


def _plain_message(error: ErrorDetails, root: type[BaseModel]) -> str:
    kind, message = error["type"], error["msg"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return _unknown_key_message(error["loc"], root)
    if kind in ("enum", "literal_error"):
        return f"{error['input']!r} is not allowed; must be {error['ctx']['expected']}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        count = error["ctx"]["min_length"]
        return f"must list at least {count} item" + ("s" if count > 1 else "")
    if kind in ("tuple_type", "list_type"):
        return "must be a list"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    return str(message).replace("Input should be", "must be")


def _unknown_key_message(loc: Sequence[int | str], root: type[BaseModel]) -> str:
    key = str(loc[-1])
    model = _model_at(root, loc[:-1])
    if model is not None:
        close = difflib.get_close_matches(key, list(model.model_fields), n=1)
        if close:
            return f"unknown key; did you mean {close[0]!r}?"
    return "unknown key"


def _model_at(root: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model class found by walking `loc` down from `root` (list indices skipped)."""
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None
        model = _model_in(model.model_fields[part].annotation)
    return model


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (tuple, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


# --- cross references ---------------------------------------------------------------

_Out = list[RulebookProblem]
_T = typing.TypeVar("_T")

# Code lists a pilot that enrols participants needs, and the control that needs them.
_PARTICIPANT_CODE_LISTS = {
    "referral_sources": "C2 answers every referral, whatever its source",
    "activation_decisions": "C2 codes every activation decision",
    "rejection_reasons": "C2 gives every rejection a coded rationale",
    "pending_reasons": "C2 codes every pending clarification",
    "removal_reasons": "C2 codes every removal from the roster",
    "barrier_categories": "C4 records a barrier category",
    "escalation_thresholds": "C4 records an escalation threshold",
    "stall_reasons": "C6 codes every stalled case",
}


def cross_reference_problems(rb: Rulebook) -> list[RulebookProblem]:
    """Everything wrong between the sections of a rulebook that parsed."""
    out: _Out = []
    _check_pilot(rb, out)
    _check_kind(rb, out)
    _check_payers(rb, out)
    _check_participants(rb, out)
    _check_milestones(rb, out)
    _check_tranches(rb, out)
    _check_blended_rate(rb, out)
    _check_deadlines(rb, out)
    _check_sampling(rb, out)
    _check_decision_rights(rb, out)
    _check_stop_loss(rb, out)
    return out


def _add(out: _Out, path: str, message: str) -> None:
    out.append(RulebookProblem(path, message))


def _unique(
    out: _Out, path: str, items: Sequence[_T], key: Callable[[_T], str], field: str, what: str
) -> None:
    """Flag each repeat of a key in a list, pointing at the first occurrence."""
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        k = key(item)
        if k in first:
            where = f"{path}[{i}].{field}" if field else f"{path}[{i}]"
            _add(out, where, f"duplicate {what} {k!r} (also {path}[{first[k]}])")
        else:
            first[k] = i


def _unique_codes(out: _Out, path: str, items: Sequence[typing.Any]) -> None:
    _unique(out, path, items, lambda item: str(item.code), "code", "code")


def _unique_values(out: _Out, path: str, values: Sequence[str], what: str) -> None:
    _unique(out, path, values, str, "", what)


def _pct(value: Decimal) -> str:
    return str(canonical_percent(value))


def _find_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Each distinct cycle once, starting from its earliest node in `graph` order."""
    order = {node: i for i, node in enumerate(graph)}
    done: set[str] = set()
    cycles: dict[tuple[str, ...], list[str]] = {}

    def visit(node: str, stack: list[str]) -> None:
        stack.append(node)
        for nxt in graph[node]:
            if nxt in stack:
                cycle = stack[stack.index(nxt) :]
                start = min(range(len(cycle)), key=lambda i: order[cycle[i]])
                rotated = cycle[start:] + cycle[:start]
                cycles.setdefault(tuple(rotated), rotated)
            elif nxt not in done:
                visit(nxt, stack)
        stack.pop()
        done.add(node)

    for node in graph:
        if node not in done:
            visit(node, [])
    return sorted(cycles.values(), key=lambda c: order[c[0]])


@functools.cache
def _time_zones() -> frozenset[str]:
    """The IANA zone keys installed; cached, as listing them reads the whole tz database."""
    return frozenset(zoneinfo.available_timezones())


def _check_pilot(rb: Rulebook, out: _Out) -> None:
    pilot = rb.pilot
    if pilot.period_end <= pilot.period_start:
        _add(
            out,
            "pilot.period_end",
            f"must be after period_start ({pilot.period_start.isoformat()})",
        )
    if pilot.timezone not in _time_zones():
        _add(out, "pilot.timezone", f"unknown time zone {pilot.timezone!r}; e.g. 'America/Chicago'")
    if not is_known_calendar(pilot.holiday_calendar):
        _add(
            out,
            "pilot.holiday_calendar",
            f"unknown holiday calendar {pilot.holiday_calendar!r}; use 'US' or 'US-' and a state",
        )


def _check_kind(rb: Rulebook, out: _Out) -> None:
    """Each kind of pilot has the sections its controls run on."""
    kind = rb.pilot.kind
    if kind is PilotKind.MILESTONE and not any(m.scope is Scope.PARTICIPANT for m in rb.milestones):
        _add(out, "milestones", "a milestone pilot needs at least one participant milestone")
    if kind is PilotKind.STAGED_CONTRACT and not rb.tranches:
        _add(out, "tranches", "a staged-contract pilot needs at least one tranche")
    if kind is PilotKind.BLENDED_RATE:
        if not rb.service_levels:
            _add(out, "service_levels", "a blended-rate pilot needs at least one service level")
        if rb.baseline_package is None:
            _add(out, "baseline_package", "required: a blended-rate pilot's PMPM buys a package")
    if kind is PilotKind.MULTI_PAYER:
        if len(rb.payers) < 2:
            _add(out, "payers", "a multi-payer pilot needs at least 2 payers")
        if not any(r.action is DecisionAction.APPROVE_SPEND for r in rb.decision_rights):
            _add(out, "decision_rights", "a multi-payer pilot must say who may approve spend")


def _check_split(
    out: _Out, path: str, shares: Sequence[PayerShare], payers: dict[str, Payer]
) -> None:
    total = sum((s.share for s in shares), Decimal(0))
    if total != 100:
        _add(out, path, f"shares sum to {_pct(total)}, not 100")
    for j, share in enumerate(shares):
        payer = payers.get(share.payer)
        if payer is None:
            _add(out, f"{path}[{j}].payer", f"unknown payer {share.payer!r}")
        elif not payer.allows(share.use):
            _add(
                out,
                f"{path}[{j}].use",
                f"{share.use!r} is not an allowable use of payer {share.payer!r}",
            )
    _unique(out, path, shares, lambda s: s.payer, "payer", "payer")


def _check_payers(rb: Rulebook, out: _Out) -> None:
    _unique(out, "payers", rb.payers, lambda p: p.id, "id", "payer id")
    for i, payer in enumerate(rb.payers):
        _unique_codes(out, f"payers[{i}].allowable_uses", payer.allowable_uses)
    payers = {p.id: p for p in rb.payers}

    in_use = {
        PaymentType.MILESTONE: (
            any(m.scope is Scope.PARTICIPANT for m in rb.milestones),
            "participant milestones",
        ),
        PaymentType.TRANCHE: (any(not t.payer_split for t in rb.tranches), "tranches"),
        PaymentType.PMPM: (bool(rb.service_levels), "service levels"),
        PaymentType.EPISODE: (bool(rb.episodes), "episodes"),
    }
    for payment_type, (used, what) in in_use.items():
        path = f"payment_split.{payment_type.value}"
        shares = rb.payment_split.for_type(payment_type)
        if used and not shares:
            _add(out, path, f"required: the rulebook pays for {what}; say which payers pay")
        elif shares and not used:
            _add(out, path, f"not used: the rulebook pays for no {what}")
        elif shares:
            _check_split(out, path, shares, payers)

    for i, tranche in enumerate(rb.tranches):
        if tranche.payer_split:
            _check_split(out, f"tranches[{i}].payer_split", tranche.payer_split, payers)


def _check_range(out: _Out, path: str, score_range: ScoreRange) -> None:
    if score_range.max < score_range.min:
        _add(out, f"{path}.max", f"must not be below min ({score_range.min})")


def _check_participants(rb: Rulebook, out: _Out) -> None:
    """Eligibility, acuity, equity, code lists and stages (C1–C6, C18)."""
    eligibility, acuity = rb.eligibility, rb.acuity
    if eligibility is None:
        if rb.enrols_participants:
            _add(out, "eligibility", "required: this pilot enrols participants")
    else:
        _unique_codes(
            out,
            "eligibility.qualifying_service_categories",
            eligibility.qualifying_service_categories,
        )
        _unique_codes(out, "eligibility.approved_tools", eligibility.approved_tools)
        for i, tool in enumerate(eligibility.approved_tools):
            _unique_values(
                out, f"eligibility.approved_tools[{i}].versions", tool.versions, "version"
            )
        _unique_codes(out, "eligibility.exclusion_reasons", eligibility.exclusion_reasons)
        _check_range(out, "eligibility.baseline_score", eligibility.baseline_score)

    if acuity is not None:
        _unique_codes(out, "acuity.bands", acuity.bands)
        _unique_codes(out, "acuity.subpopulation_flags", acuity.subpopulation_flags)
        tools = {t.code for t in eligibility.approved_tools} if eligibility else set()
        if acuity.tool not in tools:
            _add(out, "acuity.tool", f"{acuity.tool!r} is not in eligibility.approved_tools")

    if rb.equity is not None:
        cohorts = (
            {c.code for c in (*acuity.bands, *acuity.subpopulation_flags)} if acuity else set()
        )
        floors = rb.equity.minimum_acceptance_rates
        _unique(
            out, "equity.minimum_acceptance_rates", floors, lambda f: f.cohort, "cohort", "cohort"
        )
        for i, floor in enumerate(floors):
            if floor.cohort not in cohorts:
                _add(
                    out,
                    f"equity.minimum_acceptance_rates[{i}].cohort",
                    f"unknown cohort {floor.cohort!r}: not an acuity band or subpopulation flag",
                )

    codes = rb.codes
    for name in type(codes).model_fields:
        _unique_codes(out, f"codes.{name}", getattr(codes, name))
    if rb.enrols_participants:
        for name, reason in _PARTICIPANT_CODE_LISTS.items():
            if not getattr(codes, name):
                _add(out, f"codes.{name}", f"required: {reason}")
        if codes.activation_decisions:
            outcomes = {c.outcome for c in codes.activation_decisions}
            missing = [o.value for o in ActivationOutcome if o not in outcomes]
            if missing:
                _add(
                    out,
                    "codes.activation_decisions",
                    f"no code for outcome {', '.join(missing)}",
                )
    if rb.milestones and not codes.verification_rejection_reasons:
        _add(out, "codes.verification_rejection_reasons", "required: C9 codes every rejection")
    if not codes.dispute_stages:
        _add(out, "codes.dispute_stages", "required: C11 moves every dispute through stages")

    _check_stages(rb, out)


def _check_stages(rb: Rulebook, out: _Out) -> None:
    stages = rb.milestone_stages
    if any(m.scope is Scope.PARTICIPANT for m in rb.milestones) and not stages:
        _add(out, "milestone_stages", "required: C4 places each pathway at a stage")
    _unique_codes(out, "milestone_stages", stages)
    if stages and rb.eligibility is None:
        _add(out, "milestone_stages", "stages map baseline scores, which needs [eligibility]")
    eligible = rb.eligibility.baseline_score if rb.eligibility else None
    for i, stage in enumerate(stages):
        path = f"milestone_stages[{i}].baseline_score"
        own = stage.baseline_score
        _check_range(out, path, own)
        if eligible and not (eligible.contains(own.min) and eligible.contains(own.max)):
            _add(
                out,
                path,
                f"{own.min}–{own.max} is outside the eligible range {eligible.min}–{eligible.max}",
            )
        for j in range(i):
            other = stages[j].baseline_score
            if own.min <= other.max and other.min <= own.max:
                _add(out, path, f"overlaps milestone_stages[{j}] ({stages[j].code})")


def _first_by_code(milestones: Sequence[Milestone]) -> dict[str, Milestone]:
    """Milestones by code in library order; a duplicate code (reported elsewhere) is skipped."""
    by_code: dict[str, Milestone] = {}
    for milestone in milestones:
        by_code.setdefault(milestone.code, milestone)
    return by_code


def _check_milestones(rb: Rulebook, out: _Out) -> None:
    _unique_codes(out, "evidence_kinds", rb.evidence_kinds)
    _unique_codes(out, "milestones", rb.milestones)
    kinds = {k.code for k in rb.evidence_kinds}
    by_code = _first_by_code(rb.milestones)
    bands = {b.code for b in rb.acuity.bands} if rb.acuity else set()
    flags = {f.code for f in rb.acuity.subpopulation_flags} if rb.acuity else set()
    for i, milestone in enumerate(rb.milestones):
        path = f"milestones[{i}]"
        _check_milestone_scope(rb, out, path, milestone)
        for j, requirement in enumerate(milestone.evidence):
            if requirement.kind not in kinds:
                _add(
                    out, f"{path}.evidence[{j}].kind", f"unknown evidence kind {requirement.kind!r}"
                )
        _unique(out, f"{path}.evidence", milestone.evidence, lambda e: e.kind, "kind", "kind")
        _unique_values(out, f"{path}.prerequisites", milestone.prerequisites, "prerequisite")
        for j, code in enumerate(milestone.prerequisites):
            prerequisite = by_code.get(code)
            if prerequisite is None:
                _add(out, f"{path}.prerequisites[{j}]", f"unknown milestone {code!r}")
            elif prerequisite.scope is not milestone.scope:
                _add(
                    out,
                    f"{path}.prerequisites[{j}]",
                    f"{code!r} is a {prerequisite.scope.value} milestone; a {milestone.scope.value}"
                    f" milestone can only follow {milestone.scope.value} milestones",
                )
        _check_variants(out, path, milestone, bands, flags)

    graph = {code: [p for p in m.prerequisites if p in by_code] for code, m in by_code.items()}
    index = {code: rb.milestones.index(m) for code, m in by_code.items()}
    for cycle in _find_cycles(graph):
        _add(
            out,
            f"milestones[{index[cycle[0]]}].prerequisites",
            f"prerequisites form a cycle: {' → '.join([*cycle, cycle[0]])}",
        )


def _check_milestone_scope(rb: Rulebook, out: _Out, path: str, milestone: Milestone) -> None:
    """Participant and contract milestones are paid, timed and verified differently."""
    if milestone.scope is Scope.PARTICIPANT:
        if milestone.type in CONTRACT_MILESTONE_TYPES:
            _add(out, f"{path}.type", f"{milestone.type.value!r} is a contract milestone type")
        if milestone.price is None:
            _add(out, f"{path}.price", "required for a participant milestone")
        if milestone.due_date is not None:
            _add(out, f"{path}.due_date", "participant milestones use window_days from activation")
        return
    if milestone.type not in CONTRACT_MILESTONE_TYPES:
        _add(out, f"{path}.type", f"{milestone.type.value!r} is a participant milestone type")
    if milestone.price is not None:
        _add(out, f"{path}.price", "contract milestones are paid through their tranche")
    if milestone.tier is Tier.SAMPLED:
        _add(out, f"{path}.tier", "contract milestones are verified independently")
    if milestone.window_days is not None:
        _add(out, f"{path}.window_days", "contract milestones use a due_date, not a window")
    if milestone.reearnable:
        _add(out, f"{path}.reearnable", "only participant milestones can be re-earned")
    due = milestone.due_date
    if due is not None and not rb.pilot.period_start <= due <= rb.pilot.period_end:
        _add(out, f"{path}.due_date", f"{due.isoformat()} is outside the pilot period")
    if milestone.variants:
        _add(out, f"{path}.variants", "risk adjustment applies to participant milestones only")


def _check_variants(
    out: _Out, path: str, milestone: Milestone, bands: set[str], flags: set[str]
) -> None:
    _unique_codes(out, f"{path}.variants", milestone.variants)
    for k, variant in enumerate(milestone.variants):
        where = f"{path}.variants[{k}]"
        if not variant.acuity_bands and not variant.flags:
            _add(out, where, "name the acuity_bands or flags it applies to")
        if variant.window_days is None and variant.price is None:
            _add(out, where, "must adjust window_days or price")
        if variant.window_days is not None and milestone.window_days is None:
            _add(out, f"{where}.window_days", "the milestone has no window to adjust")
        for m, band in enumerate(variant.acuity_bands):
            if band not in bands:
                _add(out, f"{where}.acuity_bands[{m}]", f"unknown acuity band {band!r}")
        for m, flag in enumerate(variant.flags):
            if flag not in flags:
                _add(out, f"{where}.flags[{m}]", f"unknown subpopulation flag {flag!r}")


def _check_tranches(rb: Rulebook, out: _Out) -> None:
    _unique_codes(out, "tranches", rb.tranches)
    by_code = _first_by_code(rb.milestones)
    first_tranche: dict[str, str] = {}
    for i, tranche in enumerate(rb.tranches):
        path = f"tranches[{i}]"
        milestone = by_code.get(tranche.milestone)
        if milestone is None:
            _add(out, f"{path}.milestone", f"unknown milestone {tranche.milestone!r}")
        elif milestone.scope is not Scope.CONTRACT:
            _add(out, f"{path}.milestone", f"{tranche.milestone!r} is a participant milestone")
        elif tranche.milestone in first_tranche:
            _add(
                out,
                f"{path}.milestone",
                f"{tranche.milestone!r} already has tranche {first_tranche[tranche.milestone]!r}",
            )
        else:
            first_tranche[tranche.milestone] = tranche.code
            if milestone.type in LIVE_USE_MILESTONE_TYPES and tranche.live_use is None:
                _add(
                    out,
                    f"{path}.live_use",
                    f"required: a {milestone.type.value} milestone is proven on real cases",
                )
        _unique_codes(out, f"{path}.criteria", tranche.criteria)
        if tranche.partial_release is PartialRelease.PROPORTIONAL and not tranche.criteria:
            _add(out, f"{path}.criteria", "proportional release needs criteria to count")
        if tranche.minimum_criteria_met is not None:
            if tranche.partial_release is not PartialRelease.PROPORTIONAL:
                _add(out, f"{path}.minimum_criteria_met", "only for proportional release")
            elif tranche.minimum_criteria_met > len(tranche.criteria):
                _add(
                    out,
                    f"{path}.minimum_criteria_met",
                    f"{tranche.minimum_criteria_met} is more than the"
                    f" {len(tranche.criteria)} criteria",
                )
        if tranche.live_use is not None:
            floors = tranche.live_use.quality_floors
            _unique(
                out,
                f"{path}.live_use.quality_floors",
                floors,
                lambda f: f.measure,
                "measure",
                "measure",
            )
    _check_commitments(rb, out)


def _check_commitments(rb: Rulebook, out: _Out) -> None:
    """No payer's share of the tranches may exceed what it contributes (invariant 3)."""
    payers = {p.id: p for p in rb.payers}
    committed = dict.fromkeys(payers, Decimal("0.00"))
    for tranche in rb.tranches:
        shares = tranche.payer_split or rb.payment_split.tranche
        if not shares or sum(s.share for s in shares) != 100:
            continue
        if any(s.payer not in payers for s in shares):
            continue
        for share, part in zip(
            shares, allocate(tranche.amount, [s.share for s in shares]), strict=True
        ):
            committed[share.payer] += part
    for payer_id, amount in committed.items():
        contribution = payers[payer_id].contribution
        if amount > contribution:
            _add(
                out,
                "tranches",
                f"tranches charge payer {payer_id!r} {format_usd(amount)},"
                f" more than its contribution of {format_usd(contribution)}",
            )


def _check_blended_rate(rb: Rulebook, out: _Out) -> None:
    """Service levels, episodes and the baseline package (C3, C5)."""
    _unique_codes(out, "service_levels", rb.service_levels)
    levels = {s.code for s in rb.service_levels}
    for i, level in enumerate(rb.service_levels):
        path = f"service_levels[{i}]"
        if level.upgrade_to is not None:
            if level.upgrade_to == level.code:
                _add(out, f"{path}.upgrade_to", "a level cannot upgrade to itself")
            elif level.upgrade_to not in levels:
                _add(out, f"{path}.upgrade_to", f"unknown service level {level.upgrade_to!r}")
            if not level.upgrade_triggers:
                _add(
                    out, f"{path}.upgrade_triggers", "required: C3 upgrades cite objective triggers"
                )
        elif level.upgrade_triggers:
            _add(out, f"{path}.upgrade_triggers", "triggers need an upgrade_to level")
        _unique(
            out,
            f"{path}.upgrade_triggers",
            level.upgrade_triggers,
            lambda t: t.kind.value,
            "kind",
            "trigger kind",
        )
        for j, trigger in enumerate(level.upgrade_triggers):
            where = f"{path}.upgrade_triggers[{j}]"
            wanted = {
                TriggerKind.DETERIORATION: {"indicator"},
                TriggerKind.UNPLANNED_CONTACTS: {"count", "within_days"},
                TriggerKind.SAFEGUARDING: set(),
            }[trigger.kind]
            for name in ("indicator", "count", "within_days"):
                given = getattr(trigger, name) is not None
                if name in wanted and not given:
                    _add(out, f"{where}.{name}", f"required when kind is {trigger.kind.value!r}")
                elif given and name not in wanted:
                    _add(out, f"{where}.{name}", f"not used when kind is {trigger.kind.value!r}")
    graph = {
        s.code: [s.upgrade_to] if s.upgrade_to in levels and s.upgrade_to != s.code else []
        for s in rb.service_levels
    }
    for cycle in _find_cycles(graph):
        position = next(i for i, s in enumerate(rb.service_levels) if s.code == cycle[0])
        _add(
            out,
            f"service_levels[{position}].upgrade_to",
            f"upgrades go round in a cycle: {' → '.join([*cycle, cycle[0]])}",
        )

    _unique_codes(out, "episodes", rb.episodes)
    for i, episode in enumerate(rb.episodes):
        path = f"episodes[{i}]"
        for j, code in enumerate(episode.required_service_levels):
            if code not in levels:
                _add(out, f"{path}.required_service_levels[{j}]", f"unknown service level {code!r}")
        if episode.authorisation_required and episode.authorised_by is None:
            _add(out, f"{path}.authorised_by", "required when authorisation_required is true")
        if not episode.authorisation_required and episode.authorised_by is not None:
            _add(out, f"{path}.authorised_by", "only when authorisation_required is true")
        if episode.cap_period_days is not None and episode.unit_cap is None:
            _add(out, f"{path}.cap_period_days", "a cap period needs a unit_cap")

    package = rb.baseline_package
    if package is not None:
        _unique_codes(out, "baseline_package.activity_types", package.activity_types)
        episodes = {e.code for e in rb.episodes}
        for i, activity in enumerate(package.activity_types):
            if activity.code in episodes:
                _add(
                    out,
                    f"baseline_package.activity_types[{i}].code",
                    f"{activity.code!r} is also an episode; baseline work is never billable",
                )


def _check_deadlines(rb: Rulebook, out: _Out) -> None:
    deadlines = rb.deadlines
    needed: list[tuple[Iterable[str], bool, str]] = [
        (
            (
                "eligibility_file",
                "activation_decision",
                "pathway_release",
                "progression_review_calendar_days",
            ),
            rb.enrols_participants,
            "this pilot enrols participants",
        ),
        (("service_level_decision",), bool(rb.service_levels), "this pilot has service levels"),
        (("verification",), bool(rb.milestones), "this pilot verifies milestones"),
    ]
    for names, applies, reason in needed:
        for name in names:
            if applies and getattr(deadlines, name) is None:
                _add(out, f"deadlines.{name}", f"required: {reason}")


def _check_sampling(rb: Rulebook, out: _Out) -> None:
    sampling = rb.sampling
    if sampling is None:
        for i, milestone in enumerate(rb.milestones):
            if milestone.tier is Tier.SAMPLED:
                _add(out, f"milestones[{i}].tier", "sampled milestones need a [sampling] section")
        return
    if Tier.SAMPLED not in sampling.tiers:
        _add(out, "sampling.tiers", "must include 'sampled': only the sample checks those claims")
    _unique_values(out, "sampling.tiers", sampling.tiers, "tier")
    if (sampling.size is None) == (sampling.rate is None):
        _add(out, "sampling", "give either size or rate")
    if sampling.design is SampleDesign.STRATIFIED and not sampling.strata:
        _add(out, "sampling.strata", "required for a stratified design")
    if sampling.design is SampleDesign.SIMPLE and sampling.strata:
        _add(out, "sampling.strata", "a simple random sample has no strata")
    _unique_values(out, "sampling.strata", sampling.strata, "stratum")


def _check_selection(
    out: _Out, path: str, values: Sequence[str], known: set[str], unknown: str
) -> bool:
    """Check a "*"-or-list field; True when every value is known.

    `unknown` is the message for a value not in `known`, with `{0!r}` for the value.
    """
    if ALL in values and len(values) > 1:
        _add(out, path, "'*' means all; write it alone, not in a list")
        return False
    if values == (ALL,):
        return True
    for j, value in enumerate(values):
        if value not in known:
            _add(out, f"{path}[{j}]", unknown.format(value))
    _unique_values(out, path, values, "entry")
    return all(value in known for value in values)


def _check_decision_rights(rb: Rulebook, out: _Out) -> None:
    payers = {p.id: p for p in rb.payers}
    for i, right in enumerate(rb.decision_rights):
        path = f"decision_rights[{i}]"
        if not _check_selection(
            out, f"{path}.payers", right.payers, set(payers), "unknown payer {0!r}"
        ):
            continue
        chosen = payers.values() if right.payers == (ALL,) else [payers[p] for p in right.payers]
        uses = {u.code for payer in chosen for u in payer.allowable_uses}
        whose = "any payer" if right.payers == (ALL,) else f"payers {', '.join(right.payers)}"
        _check_selection(
            out,
            f"{path}.uses",
            right.uses,
            uses,
            "{0!r} is not an allowable use of " + whose,
        )
    _unique(out, "decision_rights", rb.decision_rights, lambda r: r.key, "", "decision right")

    route = rb.exception_route
    if route is not None and not any(
        r.action is DecisionAction.APPROVE_EXCEPTION and r.role is route.senior_role
        for r in rb.decision_rights
    ):
        _add(
            out,
            "exception_route.senior_role",
            f"no decision right lets {route.senior_role.value!r} approve_exception",
        )


def _check_stop_loss(rb: Rulebook, out: _Out) -> None:
    stop_loss = rb.stop_loss
    if stop_loss is None:
        return
    if (stop_loss.escalations_above is None) != (stop_loss.escalation_period_days is None):
        _add(out, "stop_loss", "give escalations_above and escalation_period_days together")
