"""The demo installation: the example pilots, their parties, one user per role (and
three verifiers of the independent verification body), a synthetic participant
history for the pilots that enrol participants, and its claims: evidence, milestone
claims, readiness reviews, verifications, monthly samples with their audits and
appraisals, disputes, and the staged contract's tranches.

Everything goes through the real actions, so the audit log of a demo is the log a
real installation would have. Loading twice changes nothing: a pilot that already has
referrals is not simulated again, nor a contract pilot that already has claims.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils import timezone
from django.utils.text import slugify

from fundpilot.claims.models import Claim
from fundpilot.claims.simulate import simulate_claims
from fundpilot.governance.simulate import simulate_governance
from fundpilot.money.simulate import simulate_money
from fundpilot.participants.models import Referral
from fundpilot.participants.simulate import simulate
from fundpilot.pilots import actions
from fundpilot.pilots.models import Membership, Organisation, Party, Pilot, User
from fundpilot.rules.errors import Refused
from fundpilot.rules.money import format_usd
from fundpilot.rules.rulebook import load_rulebook
from fundpilot.rules.vocabulary import OrgKind, Role

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PASSWORD = "pilot-demo-2026"

ORGANISATIONS = [
    ("pilot-office", "Cascade Integrated Care Pilot Office", OrgKind.PILOT_OFFICE),
    ("riverside", "Riverside Community Services", OrgKind.PROVIDER),
    ("northstar", "Northstar Recovery Partners", OrgKind.PROVIDER),
    ("keystone-verification", "Keystone Independent Verification", OrgKind.VERIFICATION_BODY),
    ("meridian-assurance", "Meridian Assurance Group", OrgKind.ASSURANCE_BODY),
]

# (username, full name, organisation, role, system-wide?)
PEOPLE = [
    ("admin", "Avery Admin", "pilot-office", Role.ADMINISTRATOR, True),
    ("auditor", "Aubrey Auditor", "meridian-assurance", Role.AUDITOR, True),
    ("enrollment", "Elena Ortiz", "riverside", Role.ENROLLMENT_MANAGER, False),
    ("approver", "Marcus Bell", "pilot-office", Role.ACTIVATION_APPROVER, False),
    ("compliance", "Priya Raman", "pilot-office", Role.COMPLIANCE, False),
    ("recovery", "Dana Whitfield", "riverside", Role.RECOVERY_LEAD, False),
    ("frontline", "Jordan Lee", "riverside", Role.FRONTLINE, False),
    ("supervisor", "Sam Okafor", "riverside", Role.SUPERVISOR, False),
    ("quality", "Quinn Harper", "pilot-office", Role.QUALITY_REVIEWER, False),
    ("clinical", "Dr Lena Kowalski", "riverside", Role.CLINICAL_LEAD, False),
    ("verifier", "Victor Nguyen", "keystone-verification", Role.VERIFIER, False),
    ("verifier-lead", "Helena Sato", "keystone-verification", Role.VERIFIER, False),
    ("verifier-2", "Omar Haddad", "keystone-verification", Role.VERIFIER, False),
    ("finance", "Frances Cole", "pilot-office", Role.FINANCE, False),
    ("sponsor", "Grace Adeyemi", "pilot-office", Role.EXECUTIVE_SPONSOR, False),
    ("board", "Bernard Ellis", "pilot-office", Role.BOARD_CHAIR, False),
    ("assurance", "Asha Menon", "meridian-assurance", Role.ASSURANCE_REVIEWER, False),
    ("frontline-northstar", "Riley Chen", "northstar", Role.FRONTLINE, False),
    ("enrollment-northstar", "Noah Patel", "northstar", Role.ENROLLMENT_MANAGER, False),
    ("recovery-northstar", "Imani Brooks", "northstar", Role.RECOVERY_LEAD, False),
    ("supervisor-northstar", "Tomas Herrera", "northstar", Role.SUPERVISOR, False),
    ("clinical-northstar", "Dr Mei Tanaka", "northstar", Role.CLINICAL_LEAD, False),
]
# Synthetic history up to today (pilot id, referrals, months): every page has data.
HISTORY = [("recovery-2026", 120, 6), ("blended-2026", 120, 6), ("pooled-2026", 80, 6)]
# Staged contract pilots: claims only (their rulebooks enrol no participants).
CONTRACTS = ["discharge-2026"]
SEED = 2026


@dataclass(frozen=True)
class Login:
    username: str
    organisation: str
    roles: str


def load(progress: Any = None, *, history: bool = True) -> list[Login]:
    """Load (or top up) the demo installation and return its logins; with `history`, the
    participant pilots get their synthetic months (once)."""
    now = timezone.now()
    say = progress.print if progress else (lambda *a, **k: None)
    orgs = {code: _organisation(code, name, kind, now) for code, name, kind in ORGANISATIONS}
    admin = _user("admin", "Avery Admin", orgs["pilot-office"], None, now)
    if not Membership.objects.filter(user=admin, role=Role.ADMINISTRATOR, pilot=None).exists():
        actions.grant_role(user=admin, role=Role.ADMINISTRATOR, pilot=None, by=None, at=now)
    people = {u: _user(u, name, orgs[org], admin, now) for u, name, org, _, _ in PEOPLE}
    for username, _, _, role, system in PEOPLE:
        if (
            system
            and not Membership.objects.filter(user=people[username], role=role, pilot=None).exists()
        ):
            actions.grant_role(user=people[username], role=role, pilot=None, by=admin, at=now)

    for path in sorted(EXAMPLES.glob("*.toml")):
        rulebook = load_rulebook(path)
        pilot = Pilot.objects.filter(slug=rulebook.pilot.id).first()
        if pilot is None:
            say(f"loading {rulebook.pilot.name} from {path.name}")
            pilot = actions.create_pilot(document=path.read_text(), by=admin, at=now)
        for code, _, _ in ORGANISATIONS:
            _party(pilot, orgs[code], "", admin, now)
        for payer in rulebook.payers:
            org = _organisation(slugify(payer.name)[:60], payer.name, OrgKind.PAYER, now, admin)
            _party(pilot, org, payer.id, admin, now)
            rep = _user(
                f"payer-{_initials(payer.name)}", f"{payer.name} representative", org, admin, now
            )
            _grant(rep, Role.PAYER_REP, pilot, admin, now)
        for username, _, _, role, system in PEOPLE:
            if not system:
                _grant(people[username], role, pilot, admin, now)

    for slug, participants, months in HISTORY if history else ():
        _history(Pilot.objects.get(slug=slug), participants, months, progress)
    for slug in CONTRACTS if history else ():
        pilot = Pilot.objects.get(slug=slug)
        if not Claim.objects.filter(pilot=pilot).exists():
            _claims(pilot, None, progress)
            _money(pilot, pilot.rulebook.pilot.period_start, None, progress)

    return [
        Login(
            u.username,
            u.organisation.name if u.organisation else "",
            ", ".join(sorted({m.role for m in u.memberships.all()})),
        )
        for u in User.objects.select_related("organisation")
        .prefetch_related("memberships")
        .order_by("organisation__kind", "username")
    ]


def _history(pilot: Pilot, participants: int, months: int, console: Any) -> None:
    """Simulate the pilot's last months through the real actions, then their claims, once."""
    if Referral.objects.filter(pilot=pilot).exists():
        return
    say = console.print if console else (lambda *a, **k: None)
    try:
        with _bar(
            console, f"simulating {pilot.slug}: {participants} referrals over {months} months"
        ) as shown:
            result = simulate(
                pilot=pilot, participants=participants, months=months, seed=SEED, progress=shown
            )
    except Refused as exc:  # e.g. today is outside the pilot period
        say(f"no history for {pilot.slug}: {exc.message}")
        return
    say(
        f"simulated {pilot.name}: {result.participants} referrals,"
        f" {result.actions} audited actions ({result.start:%Y-%m-%d} to {result.until:%Y-%m-%d})",
        soft_wrap=True,
    )
    _claims(pilot, result.until, console)
    _money(pilot, result.start.date(), result.until, console)
    _governance(pilot, result.start.date(), result.until, console)


def _money(pilot: Pilot, since: Any, until: Any, console: Any) -> None:
    """Contributions, spend, payment runs, reconciliations and variance cycles of the
    simulated months, through the real actions, once."""
    say = console.print if console else (lambda *a, **k: None)
    with _bar(console, f"simulating the money of {pilot.slug}") as shown:
        result = simulate_money(
            pilot=pilot, seed=SEED, since=since, until=until or timezone.now(), progress=shown
        )
    actions = ", ".join(f"{n} {name}" for name, n in sorted(result.actions.items()))
    say(f"money of {pilot.name}: {actions}; paid {format_usd(result.paid)}", soft_wrap=True)
    for problem in result.refused:
        say(f"  refused: {problem}", soft_wrap=True)


def _governance(pilot: Pilot, since: Any, until: Any, console: Any) -> None:
    """Settlement files, equity checks, board decisions and assurance reviews of the
    simulated months, through the real actions, once."""
    say = console.print if console else (lambda *a, **k: None)
    with _bar(console, f"simulating the governance of {pilot.slug}") as shown:
        result = simulate_governance(
            pilot=pilot, seed=SEED, since=since, until=until, progress=shown
        )
    actions = ", ".join(f"{n} {name}" for name, n in sorted(result.actions.items()))
    say(f"governance of {pilot.name}: {actions}", soft_wrap=True)
    for problem in result.refused:
        say(f"  refused: {problem}", soft_wrap=True)


def _claims(pilot: Pilot, until: Any, console: Any) -> None:
    """The claims of the pilot's simulated history (for a staged contract: its
    tranches), through the real actions, once."""
    say = console.print if console else (lambda *a, **k: None)
    try:
        with _bar(console, f"simulating the claims of {pilot.slug}") as shown:
            result = simulate_claims(pilot=pilot, seed=SEED, until=until, progress=shown)
    except Refused as exc:
        say(f"no claims for {pilot.slug}: {exc.message}")
        return
    if result.actions:
        statuses = ", ".join(f"{n} {status}" for status, n in result.claims.items())
        say(f"claims of {pilot.name}: {statuses}; {result.actions} audited actions", soft_wrap=True)


@contextmanager
def _bar(console: Any, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A transient progress bar of simulated days on the console (none without one)."""
    if console is None:
        yield None
        return
    from rich.progress import BarColumn, Progress, TimeElapsedColumn

    bar = Progress(label, BarColumn(), TimeElapsedColumn(), console=console, transient=True)
    with bar:
        task = bar.add_task("days", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _initials(name: str) -> str:
    """'Front Range Health Plan (Medicaid MCO)' -> 'frhp', as people in the field say it."""
    return "".join(word[0] for word in name.split("(")[0].split()).lower()


def _organisation(
    code: str, name: str, kind: OrgKind, at: Any, by: User | None = None
) -> Organisation:
    org = Organisation.objects.filter(code=code).first()
    if org is None:
        admin = by or User.objects.filter(memberships__role=Role.ADMINISTRATOR).first()
        org = actions.create_organisation(code=code, name=name, kind=kind, by=admin, at=at)
    return org


def _user(username: str, full_name: str, org: Organisation, by: User | None, at: Any) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        user = actions.create_user(
            username=username,
            full_name=full_name,
            organisation=org,
            password=PASSWORD,
            by=by,
            at=at,
        )
    return user


def _party(pilot: Pilot, org: Organisation, payer_id: str, by: User, at: Any) -> None:
    if not Party.objects.filter(pilot=pilot, organisation=org).exists():
        actions.add_party(pilot=pilot, organisation=org, payer_id=payer_id, by=by, at=at)


def _grant(user: User, role: Role, pilot: Pilot, by: User, at: Any) -> None:
    if not Membership.objects.filter(user=user, role=role, pilot=pilot).exists():
        actions.grant_role(user=user, role=role, pilot=pilot, by=by, at=at)
