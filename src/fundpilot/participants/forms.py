"""One form per lifecycle step: exactly the fields of its control, named as the
action's arguments so a refusal (`Refused.field`) lands on the field it is about.

Code lists come from the rulebook version in force; dates and times are entered
in the pilot's time zone and passed on as aware datetimes.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.db.models import QuerySet

from fundpilot.participants.actions import care, intake
from fundpilot.participants.imports import REGISTER_STATUSES
from fundpilot.participants.models import (
    Assessment,
    Barrier,
    EngagementEvent,
    Participant,
    Referral,
    ServiceLevelRequest,
)
from fundpilot.pilots import policy
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.rulebook import ActivationOutcome, CodeLabel, TriggerKind
from fundpilot.rules.vocabulary import OrgKind, Role

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
# To the second, so a time filled in from "now" is never before what just happened.
DATETIME = forms.DateTimeInput(
    attrs={"type": "datetime-local", "step": "1"}, format="%Y-%m-%dT%H:%M:%S"
)
TEXT = forms.Textarea(attrs={"rows": 3})
NONE = [("", "—")]


def coded(entries: Iterable[CodeLabel], *, optional: bool = False) -> list[tuple[str, str]]:
    choices = [(e.code, f"{e.code} — {e.label}") for e in entries]
    return NONE + choices if optional else choices


def people(pilot: Pilot, *, roles: Iterable[Role] = (), organisation: int | None = None) -> Any:
    """Active people holding a role (any, or one of `roles`) in the pilot."""
    rows = User.objects.filter(is_active=True, memberships__pilot=pilot)
    if roles:
        rows = rows.filter(memberships__role__in=list(roles))
    if organisation is not None:
        rows = rows.filter(organisation_id=organisation)
    return rows.distinct().order_by("first_name", "last_name", "username")


class PersonChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        name = obj.get_full_name()
        return f"{name} ({obj.username})" if name else obj.username


class PilotDateTimeField(forms.DateTimeField):
    """A date and time as the pilot's people read a clock: in its time zone."""

    def __init__(self, *args: Any, zone: ZoneInfo, **kwargs: Any) -> None:
        self.zone = zone
        kwargs.setdefault("widget", DATETIME)
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> datetime | None:
        if isinstance(value, str) and value:
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise forms.ValidationError("Enter a date and time.", code="invalid") from None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=self.zone)
        return super().to_python(value)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(self.zone).replace(tzinfo=None)
        return value


class StepForm(forms.Form):
    """A lifecycle step: built for one pilot (and participant or referral)."""

    def __init__(
        self,
        *args: Any,
        pilot: Pilot,
        user: User,
        participant: Participant | None = None,
        referral: Referral | None = None,
        **kwargs: Any,
    ) -> None:
        self.pilot = pilot
        self.rulebook = pilot.rulebook
        self.zone = ZoneInfo(self.rulebook.pilot.timezone)
        self.user = user
        self.participant = participant
        self.referral = referral
        super().__init__(*args, **kwargs)
        self.build()

    def build(self) -> None:
        """Add the fields whose choices depend on the rulebook or the participant."""

    def at(self, name: str, **kwargs: Any) -> None:
        self.fields[name] = PilotDateTimeField(zone=self.zone, **kwargs)

    def mark_errors(self) -> None:
        """Tie each field's error message to its input for screen readers."""
        for name in self.errors:
            if name in self.fields:
                bound = self[name]
                described = [f"{bound.auto_id}_error"]
                if self.fields[name].help_text:
                    described.append(f"{bound.auto_id}_helptext")
                self.fields[name].widget.attrs.update(
                    {"aria-invalid": "true", "aria-describedby": " ".join(described)}
                )

    def refused(self, exc: Refused) -> None:
        """Show a refusal on its field, or on the form when it is about no field here."""
        self.refusal = exc
        message = f"{exc.message} ({exc.code})"
        if exc.field in self.fields:
            self.add_error(exc.field, message)
        else:
            self.add_error(None, message)


class ReferralForm(StepForm):
    reference = forms.CharField(max_length=64)
    participant_id = forms.CharField(max_length=64, label="Participant ID")
    member_id = forms.CharField(max_length=64, label="Payer member ID")

    def build(self) -> None:
        rb = self.rulebook
        self.fields["payer_id"] = forms.ChoiceField(
            label="Payer", choices=[(p.id, p.name) for p in rb.payers]
        )
        self.fields["source"] = forms.ChoiceField(choices=coded(rb.codes.referral_sources))
        providers = Organisation.objects.filter(
            kind=OrgKind.PROVIDER, pk__in=self.pilot.parties.values("organisation")
        ).order_by("name")
        if not policy.sees_every_provider(self.user, self.pilot):
            providers = providers.filter(pk=self.user.organisation_id)
        self.fields["provider"] = forms.ModelChoiceField(providers, empty_label=None)
        categories = rb.eligibility.qualifying_service_categories if rb.eligibility else ()
        self.fields["service_category"] = forms.ChoiceField(choices=coded(categories))
        self.at("referred_at", label="Referred at")
        self.fields["geography"] = forms.ChoiceField(
            choices=coded(rb.codes.geographies, optional=True), required=False
        )
        self.order_fields(
            [
                "reference",
                "participant_id",
                "payer_id",
                "member_id",
                "source",
                "provider",
                "service_category",
                "referred_at",
                "geography",
            ]
        )


class AssessmentForm(StepForm):
    participant_id = forms.CharField(max_length=64, label="Participant ID")
    kind = forms.ChoiceField(choices=[(k, k) for k in intake.ASSESSMENT_KINDS])
    tool_version = forms.CharField(max_length=20, help_text="As printed on the form used.")
    score = forms.DecimalField(max_digits=7, decimal_places=2)
    signed_by = forms.CharField(max_length=150, label="Signed by")

    def build(self) -> None:
        rb = self.rulebook
        tools = rb.eligibility.approved_tools if rb.eligibility else ()
        self.fields["tool"] = forms.ChoiceField(
            choices=[(t.code, f"{t.name} (approved: {', '.join(t.versions)})") for t in tools]
        )
        bands = rb.acuity.bands if rb.acuity else ()
        flags = rb.acuity.subpopulation_flags if rb.acuity else ()
        self.fields["acuity_band"] = forms.ChoiceField(
            choices=coded(bands, optional=True), required=False
        )
        self.fields["flags"] = forms.MultipleChoiceField(
            choices=coded(flags),
            required=False,
            widget=forms.CheckboxSelectMultiple,
            label="Subpopulation flags",
        )
        self.fields["barriers"] = forms.MultipleChoiceField(
            choices=coded(rb.codes.barrier_categories),
            required=False,
            widget=forms.CheckboxSelectMultiple,
            label="Barriers found (screening)",
        )
        self.at("signed_at", label="Signed at")
        self.order_fields(
            [
                "participant_id",
                "kind",
                "tool",
                "tool_version",
                "score",
                "acuity_band",
                "flags",
                "barriers",
                "signed_by",
                "signed_at",
            ]
        )


class AssessmentChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        approved = "" if obj.approved_tool else ", version not approved"
        return (
            f"{obj.kind} {obj.tool} {obj.tool_version}: {obj.score}"
            f" (signed {obj.signed_at:%Y-%m-%d} by {obj.signed_by}{approved})"
        )


class EligibilityFileForm(StepForm):
    participant_id = forms.CharField(max_length=64, label="Participant ID")
    payer_status = forms.ChoiceField(
        choices=[(s, s) for s in (*REGISTER_STATUSES, intake.NOT_IN_REGISTER)],
        help_text="As the payer eligibility register says on the proposed start date.",
    )
    baseline_score = forms.DecimalField(max_digits=7, decimal_places=2)
    proposed_start = forms.DateField(widget=DATE)

    def build(self) -> None:
        rb = self.rulebook
        assert self.referral is not None
        assessments: QuerySet[Assessment] = Assessment.objects.filter(
            pilot=self.pilot,
            participant_id=self.referral.participant_id,
            kind=Assessment.BASELINE,
        ).order_by("-signed_at", "-pk")
        self.fields["assessment"] = AssessmentChoice(
            assessments, empty_label=None, label="Signed baseline assessment"
        )
        categories = rb.eligibility.qualifying_service_categories if rb.eligibility else ()
        exclusions = rb.eligibility.exclusion_reasons if rb.eligibility else ()
        self.fields["service_category"] = forms.ChoiceField(choices=coded(categories))
        self.fields["exclusion_code"] = forms.ChoiceField(
            choices=coded(exclusions, optional=True), required=False, label="Exclusion"
        )
        self.order_fields(
            [
                "assessment",
                "participant_id",
                "payer_status",
                "baseline_score",
                "service_category",
                "proposed_start",
                "exclusion_code",
            ]
        )


class ActivationForm(StepForm):
    outcome = forms.ChoiceField(choices=[(o.value, o.value) for o in ActivationOutcome])
    review_date = forms.DateField(widget=DATE)
    control_status = forms.CharField(max_length=40, initial="passed")
    next_checkpoint = forms.DateField(widget=DATE, required=False)
    clarification_due = forms.DateField(widget=DATE, required=False)

    def build(self) -> None:
        codes = self.rulebook.codes
        self.fields["decision_code"] = forms.ChoiceField(
            choices=[(d.code, f"{d.code} — {d.label}") for d in codes.activation_decisions]
        )
        self.fields["reason_code"] = forms.ChoiceField(
            required=False,
            label="Reason (pending or rejected)",
            choices=[
                *NONE,
                ("Pending", coded(codes.pending_reasons)),
                ("Rejected", coded(codes.rejection_reasons)),
            ],
        )
        self.fields["clarification_owner"] = PersonChoice(
            people(self.pilot), required=False, label="Clarification owner"
        )
        self.order_fields(
            [
                "outcome",
                "decision_code",
                "reason_code",
                "review_date",
                "control_status",
                "next_checkpoint",
                "clarification_owner",
                "clarification_due",
            ]
        )


class ComplianceReviewForm(StepForm):
    note = forms.CharField(widget=TEXT, required=False)


class RemovalForm(StepForm):
    note = forms.CharField(widget=TEXT, required=False)

    def build(self) -> None:
        self.fields["reason_code"] = forms.ChoiceField(
            choices=coded(self.rulebook.codes.removal_reasons), label="Reason"
        )
        self.order_fields(["reason_code", "note"])


class DeclineForm(StepForm):
    note = forms.CharField(widget=TEXT, required=False)

    def build(self) -> None:
        self.fields["reason_code"] = forms.ChoiceField(
            choices=coded(self.rulebook.codes.rejection_reasons), label="Reason"
        )
        self.order_fields(["reason_code", "note"])


class ServiceLevelRequestForm(StepForm):
    kind = forms.ChoiceField(
        choices=[(k, k) for k in (ServiceLevelRequest.INITIAL, ServiceLevelRequest.UPGRADE)]
    )
    evidence = forms.CharField(widget=TEXT)
    triggers = forms.MultipleChoiceField(
        choices=[(t.value, t.value.replace("_", " ")) for t in TriggerKind],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Upgrades only: the objective triggers the current level lists.",
    )

    def build(self) -> None:
        self.fields["level"] = forms.ChoiceField(
            choices=[(s.code, f"{s.code} — {s.name}") for s in self.rulebook.service_levels]
        )
        self.order_fields(["level", "kind", "evidence", "triggers"])


class RequestChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.kind} request for {obj.level}, asked {obj.decided_at:%Y-%m-%d}"


class ServiceLevelDecisionForm(StepForm):
    approve = forms.TypedChoiceField(
        choices=[("yes", "Approve"), ("no", "Refuse")],
        coerce=lambda v: v == "yes",
        widget=forms.RadioSelect,
        label="Decision",
    )
    rationale = forms.CharField(widget=TEXT)
    expected_duration_days = forms.IntegerField(
        required=False, min_value=0, label="Expected duration (days)"
    )

    def build(self) -> None:
        open_requests = ServiceLevelRequest.objects.filter(
            participant=self.participant, status=ServiceLevelRequest.REQUESTED
        ).order_by("-pk")
        self.fields["request"] = RequestChoice(open_requests, empty_label=None)
        self.order_fields(["request", "approve", "rationale", "expected_duration_days"])


class PathwayForm(StepForm):
    target_review_date = forms.DateField(widget=DATE)

    def build(self) -> None:
        rb = self.rulebook
        assert self.participant is not None
        self.fields["stage"] = forms.ChoiceField(
            choices=[
                (
                    s.code,
                    f"{s.code} — {s.label} (baseline {s.baseline_score.min}–"
                    f"{s.baseline_score.max})",
                )
                for s in rb.milestone_stages
            ]
        )
        self.fields["barrier_category"] = forms.ChoiceField(
            choices=coded(rb.codes.barrier_categories)
        )
        self.fields["lead"] = PersonChoice(
            people(self.pilot, roles=care.LEAD_ROLES, organisation=self.participant.provider_id),
            empty_label=None,
        )
        self.fields["escalation_code"] = forms.ChoiceField(
            choices=coded(rb.codes.escalation_thresholds), label="Escalation threshold"
        )
        self.order_fields(
            ["stage", "barrier_category", "lead", "target_review_date", "escalation_code"]
        )


class ActivityForm(StepForm):
    note = forms.CharField(widget=TEXT, required=False)

    def build(self) -> None:
        rb = self.rulebook
        package = rb.baseline_package
        types = (
            [(c.code, f"{c.code} — {c.label} (baseline package)") for c in package.activity_types]
            if package
            else [(t, t.replace("_", " ")) for t in care.ORDINARY_ACTIVITY_TYPES]
        )
        episodes = [(e.code, f"{e.code} — {e.name} (episode)") for e in rb.episodes]
        self.fields["activity_type"] = forms.ChoiceField(choices=types + episodes)
        self.at("occurred_at", label="Occurred at")
        self.fields["episode"] = forms.ChoiceField(
            choices=NONE + [(e.code, f"{e.code} — {e.name}") for e in rb.episodes],
            required=False,
            help_text="Billable only under the episode's criteria.",
        )
        self.order_fields(["activity_type", "occurred_at", "episode", "note"])


class BarrierForm(StepForm):
    description = forms.CharField(widget=TEXT)

    def build(self) -> None:
        assert self.participant is not None
        self.fields["category"] = forms.ChoiceField(
            choices=coded(self.rulebook.codes.barrier_categories)
        )
        self.fields["owner"] = PersonChoice(
            people(self.pilot, organisation=self.participant.provider_id), empty_label=None
        )
        self.order_fields(["category", "description", "owner"])


class BarrierChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.category}: {obj.description} (opened {obj.opened_at:%Y-%m-%d})"


class ResolveBarrierForm(StepForm):
    def build(self) -> None:
        open_barriers = Barrier.objects.filter(
            participant=self.participant, resolved_at__isnull=True
        ).order_by("opened_at", "pk")
        self.fields["barrier"] = BarrierChoice(open_barriers, empty_label=None)


class ReviewForm(StepForm):
    outcome = forms.ChoiceField(choices=[(o, o) for o in care.PROGRESSION_OUTCOMES])
    review_date = forms.DateField(widget=DATE)
    next_checkpoint = forms.DateField(widget=DATE, required=False)

    def build(self) -> None:
        assert self.participant is not None
        codes = self.rulebook.codes
        self.fields["stall_code"] = forms.ChoiceField(
            choices=coded(codes.stall_reasons, optional=True), required=False, label="Stall reason"
        )
        self.fields["escalation_status"] = forms.ChoiceField(
            choices=coded(codes.escalation_thresholds, optional=True),
            required=False,
            label="Escalation threshold crossed",
        )
        self.fields["escalation_owner"] = PersonChoice(
            people(self.pilot, organisation=self.participant.provider_id),
            required=False,
            label="Escalation owner",
        )
        self.order_fields(
            [
                "outcome",
                "review_date",
                "stall_code",
                "escalation_status",
                "escalation_owner",
                "next_checkpoint",
            ]
        )


class EngagementForm(StepForm):
    kind = forms.ChoiceField(
        choices=[
            (EngagementEvent.DISENGAGED, "Disengaged (relapse)"),
            (EngagementEvent.REENGAGED, "Re-engaged"),
        ],
        widget=forms.RadioSelect,
        label="What happened",
    )
    reason = forms.CharField(widget=TEXT)


class EligibilityImportForm(StepForm):
    file = forms.FileField(
        label="Register (CSV)",
        help_text="Header: member_id,payer,coverage_start,coverage_end,status; ISO dates.",
    )

    def build(self) -> None:
        self.fields["payer_id"] = forms.ChoiceField(
            label="Payer", choices=[(p.id, p.name) for p in self.rulebook.payers]
        )
        self.order_fields(["payer_id", "file"])


class ReferralImportForm(StepForm):
    file = forms.FileField(
        label="Referrals (CSV)",
        help_text="Header: reference,participant_id,payer,member_id,source,provider,"
        "service_category,referred_at (geography optional).",
    )
