"""The payer statement: what one payer's money did in one month, for that payer.

Sections: contributions (agreed, committed, received, outstanding), spend by allowable
use (in the month, to date, still available), utilisation and outcomes (the payment
bases and payable claims that charged the payer), the month's C14 reconciliation of
the payer (plan, variance, investigations), the disputes concerning the payer, and the
assurance findings (which go to every payer).

Money, utilisation and outcomes are C14's figures (`money.reconciliation.compute`)
computed from the ledger as of the month's last day, so the statement reads the same
later unless the ledger gains entries effective in the month; the reconciliation
section shows the C14 record as it was prepared, and says so when the ledger has
changed since. Each figure traces to the ledger transactions, claims, disputes and
records it came from.
"""

from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce

from fundpilot.claims.models import Claim, Dispute
from fundpilot.governance.reports import findings
from fundpilot.governance.reports.common import (
    COUNT,
    DAY,
    MONEY,
    PERCENT,
    Block,
    Column,
    Report,
    Section,
    Trace,
    not_prepared,
    number,
    transactions,
)
from fundpilot.money import reconciliation as c14
from fundpilot.money.models import Account, Entry, Reconciliation, Transaction
from fundpilot.money.monthly import basis_q, in_month, last_day, month_end_instant, reversed_by
from fundpilot.participants.queues import start_of
from fundpilot.pilots.models import Pilot
from fundpilot.rules.rulebook import Payer

FIGURE = [Column("Figure"), Column("Amount", MONEY)]
COUNTED = [Column("Figure"), Column("Count", COUNT)]
UTILISATION = {
    "member_months": "Member-months (PMPM bases of the month)",
    "episodes": "Episodes",
    "milestones": "Participant milestones paid",
    "tranches": "Contract tranches paid",
    "spend_requests": "Approved spend requests",
}
BASES = {name: kind for kind, name in c14.COUNTS.items()}


class _Ledger:
    """Selections of the payer's ledger entries, each with a description that finds
    them again."""

    def __init__(self, pilot: Pilot, month: date, payer: str) -> None:
        self.pilot, self.month, self.payer = pilot, month, payer
        self.last = last_day(month)

    def entries(self, code: str, *, in_month: bool = False) -> tuple[QuerySet[Entry], str]:
        first = self.month if in_month else None
        rows = Entry.objects.filter(
            account__pilot=self.pilot, account__code=code, transaction__effective_on__lte=self.last
        )
        if first is not None:
            rows = rows.filter(transaction__effective_on__gte=first)
        since = f"{first} to" if first else "up to"
        return rows, f"ledger entries on {code} effective {since} {self.last}"

    def receipts(self, *, in_month: bool = False) -> tuple[QuerySet[Entry], str]:
        rows, where = self.entries(f"{Account.RECEIVABLE}:{self.payer}", in_month=in_month)
        return rows.filter(transaction__kind=Transaction.RECEIPT), f"receipt {where}"

    def payments(self) -> QuerySet[Entry]:
        """The payment bases of the month that charged the payer, reversed ones left out
        (C14 utilisation)."""
        return (
            Entry.objects.filter(
                account__pilot=self.pilot,
                account__kind=Account.PAID,
                account__payer=self.payer,
                transaction__kind=Transaction.PAYMENT,
            )
            .filter(in_month(self.month, "transaction__"))
            .exclude(reversed_by(self.last, "transaction"))
        )


def report(pilot: Pilot, month: date, payer: str) -> Report:
    """The statement of `payer` for `month` (the caller checked both and the viewer)."""
    rb = pilot.rulebook
    party = next(p for p in rb.payers if p.id == payer)
    figures = c14.compute(pilot, month)
    mine = next(p for p in figures["payers"] if p["payer"] == payer)
    trace = Trace()
    ledger = _Ledger(pilot, month, payer)
    sections = [
        _contributions(mine, party, pilot, ledger, trace),
        _spend(mine, ledger, trace),
        _utilisation(mine, ledger, trace),
        _outcomes(mine, pilot, month, payer, trace),
        _reconciliation(pilot, month, payer, mine, trace),
        _disputes(pilot, month, payer, trace),
        findings.assurance_section(pilot, month, trace),
    ]
    return Report(
        title="Payer statement",
        pilot=pilot.name,
        month=month,
        subtitle=f"{party.name} ({payer}): contributions, spend, utilisation, outcomes,"
        f" reconciliation, disputes and findings as of {last_day(month)}."
        f" Rulebook version {pilot.current.number}.",
        sections=sections,
        trace=trace,
    )


def _contributions(
    mine: dict[str, Any], party: Payer, pilot: Pilot, ledger: _Ledger, trace: Trace
) -> Section:
    c = mine["contribution"]
    block = Block(FIGURE)
    block.add(
        ["Agreed in the rulebook", number(c["agreed"])],
        trace.add(
            "Contribution agreed",
            [f"rulebook v{pilot.current.number}: payers.{party.id}.contribution"],
        ),
    )
    rows, where = ledger.entries(f"{Account.CONTRIBUTION}:{party.id}")
    committed = trace.add("Contribution committed", transactions(rows), where)
    block.add(["Committed", number(c["committed"])], committed)
    rows, where = ledger.receipts(in_month=True)
    block.add(
        ["Received in the month", number(c["received_in_month"])],
        trace.add("Received in the month", transactions(rows), where),
    )
    rows, where = ledger.receipts()
    received = trace.add("Received to date", transactions(rows), where)
    block.add(["Received to date", number(c["received_to_date"])], received)
    block.add(
        ["Outstanding (committed less received)", number(c["outstanding"])],
        trace.add("Outstanding", [f"{committed} less {received}"]),
    )
    return Section("Contributions", sheet="Contributions", blocks=[block])


def _spend(mine: dict[str, Any], ledger: _Ledger, trace: Trace) -> Section:
    block = Block(
        [
            Column("Use"),
            Column("Description"),
            Column("Spent in the month", MONEY),
            Column("Spent to date", MONEY),
            Column("Available at month end", MONEY),
        ]
    )
    for use in mine["spend"]["by_use"]:
        paid = f"{Account.PAID}:{ledger.payer}:{use['use']}"
        fund = f"{Account.FUND}:{ledger.payer}:{use['use']}"
        refs = []
        for label, (rows, where) in (
            ("spent in the month", ledger.entries(paid, in_month=True)),
            ("spent to date", ledger.entries(paid)),
            ("available", ledger.entries(fund)),
        ):
            refs.append(trace.add(f"{use['use']}: {label}", transactions(rows), where))
        block.add(
            [
                use["use"],
                use["label"],
                number(use["month"]),
                number(use["to_date"]),
                number(use["available"]),
            ],
            *refs,
        )
    spent = mine["spend"]
    available = sum((Decimal(u["available"]) for u in spent["by_use"]), Decimal("0.00"))
    block.add(
        ["All uses", "", number(spent["month"]), number(spent["to_date"]), available],
        trace.add("Spend, all uses", ["the sum of the rows above"]),
    )
    return Section(
        "Spend by allowable use",
        sheet="Spend by use",
        intro="Paid from the payer's funds for each allowable use, net of recoupments and"
        " reversals; available is the cash still held for the use.",
        blocks=[block],
    )


def _utilisation(mine: dict[str, Any], ledger: _Ledger, trace: Trace) -> Section:
    used = mine["utilisation"]
    paid = ledger.payments()
    where = (
        f"payment transactions charging paid:{ledger.payer}:* that count in"
        f" {ledger.month:%Y-%m} (PMPM by the member-month in the key), not reversed"
    )
    block = Block(COUNTED)
    people = (
        paid.exclude(transaction__participant_id="")
        .values_list("transaction__participant_id", flat=True)
        .distinct()
        .order_by("transaction__participant_id")
    )
    block.add(
        ["Participants paid for", used["participants"]],
        trace.add("Participants paid for", [f"participant {p}" for p in people], where),
    )
    for name, label in UTILISATION.items():
        rows = paid.filter(basis_q(BASES[name], "transaction__"))
        block.add([label, used[name]], trace.add(label, transactions(rows), where))
    return Section("Utilisation", sheet="Utilisation", blocks=[block])


def _outcomes(mine: dict[str, Any], pilot: Pilot, month: date, payer: str, trace: Trace) -> Section:
    """Payable claims the payer shares (C14's rule: milestone claims for the payers of
    the milestone split, contract milestones for the payers of their tranche)."""
    milestone_payers, tranche_payers = c14._split_payers(pilot.rulebook)
    tranches = [code for code, payers in tranche_payers.items() if payer in payers]
    last = last_day(month)
    payable = Claim.objects.filter(pilot=pilot, status=Claim.PAYABLE, reached_on__lte=last)
    participant = payable.exclude(scope="contract") if payer in milestone_payers else payable.none()
    contract = payable.filter(scope="contract", tranche__in=tranches)
    block = Block(COUNTED)
    out = mine["outcomes"]
    for label, key, rows in (
        ("Milestones reached in the month", "milestones_reached", participant),
        ("Milestones reached to date", "milestones_reached_to_date", participant),
        ("Contract milestones reached in the month", "contract_milestones_reached", contract),
        ("Contract milestones to date", "contract_milestones_reached_to_date", contract),
    ):
        if key.endswith("reached"):
            rows = rows.filter(reached_on__gte=month)
        refs = [
            f"claim {r}" for r in rows.order_by("reference").values_list("reference", flat=True)
        ]
        block.add([label, out[key]], trace.add(label, refs, f"payable claims reached by {last}"))
    return Section("Outcomes", sheet="Outcomes", blocks=[block])


def _reconciliation(
    pilot: Pilot, month: date, payer: str, mine: dict[str, Any], trace: Trace
) -> Section:
    title = "Reconciliation (C14)"
    recon = Reconciliation.objects.filter(pilot=pilot, month=month).first()
    if recon is None:
        return Section(title, sheet="Reconciliation", missing=not_prepared("Reconciliation", month))
    found = next((p for p in recon.figures["payers"] if p["payer"] == payer), None)
    if found is None:
        return Section(
            title,
            sheet="Reconciliation",
            missing=f"The {month:%Y-%m} reconciliation has no figures for {payer}.",
        )
    plan = found["plan"]
    source = [f"reconciliation {recon.pk} ({month:%Y-%m}), payer {payer}"]
    block = Block([Column("Figure"), Column("Amount", MONEY), Column("Percent", PERCENT)])
    for label, amount, percent in (
        ("Plan to date (straight line)", plan["to_date"], None),
        ("Spend to date", plan["actual"], None),
        ("Variance from plan", plan["variance"], plan["percent"]),
    ):
        block.add(
            [label, number(amount), number(percent)], trace.add(f"C14 {label.lower()}", source)
        )
    block.add(
        ["Threshold (investigate beyond)", None, number(recon.figures["threshold_percent"])],
        trace.add("C14 threshold", [f"rulebook v{recon.rulebook_version}: variance.payer_percent"]),
    )
    investigations = Block(
        [
            Column("Investigation"),
            Column("Measure"),
            Column("Owner"),
            Column("Due", DAY),
            Column("Status"),
        ],
        caption="Investigations opened by this reconciliation",
    )
    for i in recon.investigations.filter(payer=payer).select_related("owner").order_by("pk"):
        investigations.add(
            [str(i.pk), i.measure, i.owner.username if i.owner else "", i.due, i.status],
            trace.add(f"Investigation {i.pk}", [f"investigation {i.pk}", *source]),
        )
    intro = (
        f"Prepared by {recon.prepared_by.username} on {recon.prepared_at:%Y-%m-%d}"
        f" under rulebook version {recon.rulebook_version}. {recon.figures['method']}"
        f" Over threshold: {'yes' if plan['over_threshold'] else 'no'}."
    )
    if plan["actual"] != mine["spend"]["to_date"]:
        intro += f" The ledger has changed since: spend to date is now {mine['spend']['to_date']}."
    return Section(
        title,
        sheet="Reconciliation",
        intro=intro,
        blocks=[block, investigations],
    )


def disputes_of(pilot: Pilot, month: date, payer: str) -> QuerySet[Dispute]:
    """C11 disputes concerning the payer (C14's rule) that were open at some moment of
    the month: raised before its end, not resolved before its start."""
    milestone_payers, tranche_payers = c14._split_payers(pilot.rulebook)
    tranches = [code for code, payers in tranche_payers.items() if payer in payers]
    rows = Dispute.objects.filter(
        pilot=pilot, raised_at__lt=month_end_instant(pilot, month)
    ).exclude(resolved_at__lt=start_of(pilot, month))
    rows = rows.annotate(
        claim_scope=Coalesce("verification__claim__scope", "sample_audit__item__claim__scope"),
        claim_tranche=Coalesce(
            "verification__claim__tranche", "sample_audit__item__claim__tranche"
        ),
    )
    concerns = Q(subject_kind=Dispute.ACTIVATION) | Q(
        claim_scope="contract", claim_tranche__in=tranches
    )
    if payer in milestone_payers:
        concerns |= ~Q(subject_kind=Dispute.ACTIVATION) & ~Q(claim_scope="contract")
    return rows.filter(concerns).select_related("provider").order_by("raised_at", "pk")


def _disputes(pilot: Pilot, month: date, payer: str, trace: Trace) -> Section:
    end = month_end_instant(pilot, month)
    block = Block(
        [
            Column("Dispute"),
            Column("Subject"),
            Column("Provider"),
            Column("Raised", DAY),
            Column("Due", DAY),
            Column("At month end"),
            Column("Outcome"),
        ]
    )
    for d in disputes_of(pilot, month, payer):
        resolved = d.resolved_at is not None and d.resolved_at < end
        block.add(
            [
                d.reference,
                d.subject_kind,
                d.provider.code,
                pilot.calendar.local_date(d.raised_at),
                d.due,
                "resolved" if resolved else "open",
                d.outcome if resolved else "",
            ],
            trace.add(f"Dispute {d.reference}", [f"dispute {d.reference} (id {d.pk})"]),
        )
    return Section(
        "Disputes (C11)",
        sheet="Disputes",
        intro="Disputes of verifications and sample audits of claims the payer shares, and"
        " of activations (the roster is shared), open at some moment of the month.",
        blocks=[block],
    )
