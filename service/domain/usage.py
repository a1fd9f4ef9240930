"""A tenant's usage over a period, as `GET /api/usage` and the operators' `usage` command show it:
metered requests and uploads, what the tenant holds now, and the inference its jobs did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.adapters.usage import REQUESTS, UPLOAD_BYTES, UPLOAD_ITEMS, UsageMeter
from service.domain.jobs import JobService
from service.domain.quotas import QuotaBook
from service.vocabulary.errors import BadRequest

# Readers walk a period a day (audit) or an hour (usage) at a time, each a listing in storage: a
# period of centuries took minutes on S3, and moments near year 1 or 9999 overflowed into a 500.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
MAX_PERIOD = timedelta(days=366)


def parse_moment(text: str, name: str) -> datetime:
    """`2026-11-01` or `2026-11-01T12:00:00Z`; naive times are UTC."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"{name} must be a date or an ISO 8601 time, like 2026-11-01 or 2026-11-01T12:00:00Z"
        ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        in_range = EARLIEST <= moment.astimezone(UTC) < LATEST
    except OverflowError:
        in_range = False
    if not in_range:
        raise BadRequest(f"{name} must lie between {EARLIEST.year} and {LATEST.year}")
    return moment


def check_period(start: datetime, end: datetime) -> None:
    """[start, end) is not empty and spans at most MAX_PERIOD."""
    if end <= start:
        raise BadRequest("'to' must be later than 'from'")
    if end - start > MAX_PERIOD:
        raise BadRequest(f"a period spans at most {MAX_PERIOD.days} days: ask for a longer one in parts")


def period(start: str | None, end: str | None, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[from, to): by default from the first of this month to now."""
    now = now or datetime.now(UTC)
    begin = parse_moment(start, "from") if start else now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    finish = parse_moment(end, "to") if end else now
    check_period(begin, finish)
    return begin, finish


class UsageReport:
    def __init__(self, meter: UsageMeter | None, quotas: QuotaBook, jobs: JobService):
        self.meter = meter
        self.quotas = quotas
        self.jobs = jobs

    def report(self, tenant: str, start: datetime, end: datetime) -> dict:
        counted = self.meter.totals(tenant, start, end) if self.meter else {}
        items, held = self.quotas.held(tenant, fresh=True)  # model files count as stored bytes
        jobs = inferred = 0
        seconds = 0.0
        for job in self.jobs.every(tenant):
            created = parse_moment(job.created_at, "created_at")
            if not start <= created < end:
                continue
            status = self.jobs.status(job)
            if status["status"] != "succeeded":
                continue
            jobs += 1
            inferred += status["progress"]["done"]
            seconds += (status.get("metrics") or {}).get("compute_seconds") or 0.0
        return {
            "tenant": tenant,
            "from": start.isoformat().replace("+00:00", "Z"),
            "to": end.isoformat().replace("+00:00", "Z"),
            "requests": {
                "total": int(counted.get(REQUESTS, 0)),
                **{f"{c}xx": int(counted.get(f"{REQUESTS}_{c}xx", 0)) for c in (2, 3, 4, 5)},
            },
            "uploads": {"items": int(counted.get(UPLOAD_ITEMS, 0)), "bytes": int(counted.get(UPLOAD_BYTES, 0))},
            "stored": {"items": items, "bytes": held},
            "inference": {"jobs": jobs, "items": inferred, "seconds": round(seconds, 3)},
        }
