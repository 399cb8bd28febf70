"""C13: the remittance of a posted payment run to one provider, read from the ledger.

One line per basis paid (basis key, kind, participant, description, gross and each
payer's part), the recoupments the run posted against the provider, and the netting:
gross, recoupment netted, net cash, and what the provider still owes. CSV for people
and spreadsheets, JSON for machines; both carry the same lines.
"""

import csv
import io
from collections import defaultdict
from decimal import Decimal
from typing import Any

from fundpilot.money.models import Account, Entry, PaymentRun, Transaction
from fundpilot.pilots import policy
from fundpilot.pilots.models import Organisation, Pilot
from fundpilot.rules.errors import NotPermitted

ZERO = Decimal("0.00")
PREFIX_KINDS = {
    "milestone": "milestone",
    "tranche": "tranche",
    "pmpm": "pmpm",
    "episode": "episode",
    "spend": "spend",
    "recoup": "recoupment",
}
CSV_COLUMNS = ["line", "basis_key", "kind", "participant_id", "description", "gross", "payer_parts"]


def may_see(user: Any, pilot: Pilot, provider: Organisation) -> bool:
    """Whoever sees payment runs sees every remittance; provider staff only their own."""
    if policy.allowed(user, "payment.view", pilot):
        return True
    return policy.allowed(user, "remittance.view", pilot) and (
        getattr(user, "organisation_id", None) == provider.pk
    )


def require_remittance(user: Any, pilot: Pilot, provider: Organisation) -> None:
    policy.require(user, "remittance.view", pilot)
    if not may_see(user, pilot, provider):
        raise NotPermitted(
            "not_permitted",
            f"you may see only your own organisation's remittances, not {provider.code}'s",
        )


def visible_providers(user: Any, run: PaymentRun) -> list[Organisation]:
    return [o for o in providers_of(run) if may_see(user, run.pilot, o)]


def kind_of(basis_key: str) -> str:
    return PREFIX_KINDS.get(basis_key.split(":", 1)[0], "other")


def providers_of(run: PaymentRun) -> list[Organisation]:
    """The providers a run remitted to (or recouped from), by code."""
    ids = (
        Transaction.objects.filter(run=run, provider__isnull=False)
        .values_list("provider_id", flat=True)
        .distinct()
    )
    return list(Organisation.objects.filter(pk__in=list(ids)).order_by("code"))


def remittance(run: PaymentRun, provider: Organisation) -> dict[str, Any]:
    """The provider's remittance of the run as one document (Decimals as strings)."""
    rows = (
        Entry.objects.filter(transaction__run=run, transaction__provider=provider)
        .values(
            "transaction__number",
            "transaction__kind",
            "transaction__basis_key",
            "transaction__participant_id",
            "transaction__memo",
            "account__kind",
            "account__payer",
            "account__use",
            "amount_cents",
        )
        .order_by("transaction__number", "pk")
    )
    lines: dict[int, dict[str, Any]] = {}
    recoupments: dict[int, dict[str, Any]] = {}
    remit: dict[str, Any] = {"basis_key": "", "gross": ZERO, "netted": ZERO}
    for row in rows:
        amount = Decimal(row["amount_cents"]).scaleb(-2)
        kind, account = row["transaction__kind"], row["account__kind"]
        if kind == Transaction.REMITTANCE:
            remit["basis_key"] = row["transaction__basis_key"]
            if account == Account.PAYABLE:
                remit["gross"] += amount
            elif account == Account.RECOUPMENT:
                remit["netted"] -= amount
            continue
        target = lines if kind == Transaction.PAYMENT else recoupments
        line = target.setdefault(
            row["transaction__number"],
            {
                "basis_key": row["transaction__basis_key"],
                "kind": kind_of(row["transaction__basis_key"]),
                "participant_id": row["transaction__participant_id"],
                "description": row["transaction__memo"],
                "gross": ZERO,
                "parts": [],
            },
        )
        if account == Account.PAID:
            # Payments debit `paid`, recoupments credit it: both shown as positive parts.
            sign = 1 if kind == Transaction.PAYMENT else -1
            line["parts"].append(
                {
                    "payer": row["account__payer"],
                    "use": row["account__use"],
                    "amount": sign * amount,
                }
            )
            line["gross"] += sign * amount
    by_kind: dict[str, dict[str, Any]] = defaultdict(lambda: {"count": 0, "amount": ZERO})
    for line in lines.values():
        by_kind[line["kind"]]["count"] += 1
        by_kind[line["kind"]]["amount"] += line["gross"]
    document: dict[str, Any] = _strings(
        {
            "pilot": run.pilot.slug,
            "run": run.number,
            "month": f"{run.month:%Y-%m}",
            "run_at": run.run_at.isoformat(),
            "provider": provider.code,
            "provider_name": provider.name,
            "remittance_basis_key": remit["basis_key"],
            "gross": remit["gross"],
            "recoupment_netted": remit["netted"],
            "net": remit["gross"] - remit["netted"],
            "by_kind": dict(by_kind),
            "lines": list(lines.values()),
            "recoupments": [
                {k: v for k, v in r.items() if k != "gross"} | {"amount": r["gross"]}
                for r in recoupments.values()
            ],
        }
    )
    return document


def _strings(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v) for v in value]
    return value


def _parts_text(parts: list[dict[str, str]]) -> str:
    return "; ".join(f"{p['payer']}/{p['use']} {p['amount']}" for p in parts)


def as_csv(document: dict[str, Any]) -> str:
    """The remittance as CSV: a line per basis, per recoupment, then the totals."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in document["lines"]:
        writer.writerow(
            [
                "payment",
                line["basis_key"],
                line["kind"],
                line["participant_id"],
                line["description"],
                line["gross"],
                _parts_text(line["parts"]),
            ]
        )
    for r in document["recoupments"]:
        writer.writerow(
            [
                "recoupment",
                r["basis_key"],
                r["kind"],
                r["participant_id"],
                r["description"],
                f"-{r['amount']}",
                _parts_text(r["parts"]),
            ]
        )
    basis = document["remittance_basis_key"]
    writer.writerow(["gross", basis, "", "", "gross of the bases paid", document["gross"], ""])
    writer.writerow(
        ["netted", basis, "", "", "recoupment netted", f"-{document['recoupment_netted']}", ""]
    )
    writer.writerow(["net", basis, "", "", "net cash to the provider", document["net"], ""])
    return buffer.getvalue()


def filename(document: dict[str, Any], extension: str) -> str:
    return (
        f"remittance-{document['pilot']}-{document['month']}-run{document['run']}"
        f"-{document['provider']}.{extension}"
    )
