"""Cron expressions for ``sprint.schedule``: parse, find the next fire time, and say the same in systemd's words.

A sprint is scheduled with the five-field cron syntax people already know, and
installed either as a crontab entry (which reads it as written) or as a systemd
timer (which needs ``OnCalendar=`` values). Parsing it here, once, lets stager
reject a bad expression before anything is installed, show when it next fires,
and translate it for systemd without a third-party dependency.

Supported: the five fields (minute hour day-of-month month day-of-week); ``*``,
``*/n``, ``a``, ``a-b``, ``a-b/n``, ``a/n`` (from ``a`` to the field's end, as
cronie reads it) and comma lists of these; month names ``jan``..``dec`` and
weekday names ``sun``..``sat`` (any case); weekday 7 for Sunday; the macros
``@hourly @daily @midnight @weekly @monthly @yearly @annually``.

Classic (Vixie) semantics: when the day-of-month and the day-of-week fields are
both restricted, a day matches when *either* does. A field counts as restricted
when it does not start with ``*`` (so ``*/2`` in one of them keeps the usual
"both must match").

Not supported: ``@reboot`` (not a time), seconds or years fields, and the
Quartz/Jenkins extensions ``?``, ``L``, ``W``, ``#`` and ``H``. Times are wall
clock times in the zone of the datetime given (cron and systemd both use the
machine's local zone); a time skipped by a daylight-saving change is skipped.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

__all__ = ["MACROS", "Cron", "parse_cron"]

MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

_MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, start=1)}
_WEEKDAYS = {name: number for number, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# systemd counts the week from Monday; cron from Sunday (0).
_SYSTEMD_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
# Every (month, day) falls on every weekday within one 400-year Gregorian cycle,
# so a search that finds nothing in that span never will.
_SEARCH_YEARS = 400


@dataclass(frozen=True)
class _Field:
    name: str  # as messages name it: "hour"
    low: int
    high: int  # the highest value accepted: 7 for the weekday, which means Sunday
    names: dict[str, int] | None  # the names accepted besides numbers
    hint: str  # the accepted values, for messages


_FIELD_SPECS = (
    _Field("minute", 0, 59, None, "0-59"),
    _Field("hour", 0, 23, None, "0-23"),
    _Field("day-of-month", 1, 31, None, "1-31"),
    _Field("month", 1, 12, _MONTHS, "1-12 or jan-dec"),
    _Field("day-of-week", 0, 7, _WEEKDAYS, "0-7 (0 and 7 are Sunday) or sun-sat"),
)


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression; each set holds the values at which it fires."""

    expression: str  # as written, whitespace collapsed: "0 22 * * 1-5", "@daily"
    fields: str  # the five fields; a macro's equivalent ("@daily" -> "0 0 * * *")
    minutes: frozenset[int]  # 0-59
    hours: frozenset[int]  # 0-23
    days: frozenset[int]  # days of the month, 1-31
    months: frozenset[int]  # 1-12
    weekdays: frozenset[int]  # 0 = Sunday .. 6 = Saturday (7 is folded into 0)
    days_restricted: bool  # the day-of-month field does not start with "*"
    weekdays_restricted: bool  # the day-of-week field does not start with "*"

    # -- matching -----------------------------------------------------------------------------------------------

    def matches_day(self, day: date) -> bool:
        """Whether the job runs on ``day`` at all (the day-of-month / day-of-week rule above)."""
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = day.isoweekday() % 7 in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return by_date or by_weekday
        return by_date and by_weekday

    def matches(self, moment: datetime) -> bool:
        """Whether the job runs in ``moment``'s minute (its wall clock; seconds are ignored)."""
        return moment.minute in self.minutes and moment.hour in self.hours and self.matches_day(moment.date())

    def fires(self) -> bool:
        """False for expressions that name only dates that do not exist, such as ``0 0 31 2 *``."""
        if self.days_restricted and self.weekdays_restricted:
            return True  # any weekday comes round
        longest = {month: 29 if month == 2 else calendar.monthrange(2001, month)[1] for month in self.months}
        return any(day <= longest[month] for month in self.months for day in self.days)

    def next_after(self, moment: datetime) -> datetime:
        """The first minute strictly after ``moment`` at which the job runs, in ``moment``'s time zone.

        Raises:
            ValueError: ``moment`` has no time zone, or the expression never fires.
        """
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("next_after needs a timezone-aware datetime")
        if not self.fires():
            raise ValueError(f"cron expression `{self.expression}` never fires: it names only dates that do not exist")
        zone = moment.tzinfo
        after = moment.astimezone(timezone.utc)
        start = moment.replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=1)
        for wall in self._wall_times(start):
            candidate = wall.replace(tzinfo=zone)
            instant = candidate.astimezone(timezone.utc)
            if instant.astimezone(zone).replace(tzinfo=None) != wall:
                continue  # a wall time that a daylight-saving change skips
            if instant > after:
                return candidate
        raise ValueError(f"cron expression `{self.expression}` never fires after {moment.isoformat()}")

    def _wall_times(self, start: datetime) -> Iterator[datetime]:
        """Matching wall-clock minutes from ``start`` on, in order, for up to one Gregorian cycle."""
        hours, minutes = sorted(self.hours), sorted(self.minutes)
        year, month, first_day = start.year, start.month, start.day
        for _ in range(12 * _SEARCH_YEARS + 1):
            if month in self.months:
                for day in range(first_day, calendar.monthrange(year, month)[1] + 1):
                    if not self.matches_day(date(year, month, day)):
                        continue
                    for hour in hours:
                        for minute in minutes:
                            wall = datetime(year, month, day, hour, minute)
                            if wall >= start:
                                yield wall
            first_day = 1
            month += 1
            if month > 12:
                month, year = 1, year + 1
                if year > 9999:
                    return

    # -- other words for the same times -------------------------------------------------------------------------

    def on_calendar(self) -> list[str]:
        """The systemd ``OnCalendar=`` values that together fire at exactly these times (systemd.time(7)).

        Two values when both day fields are restricted: systemd has no "either" between a weekday and a
        date, so the union is written as one value per side.
        """
        time = f"{_calendar_values(self.hours, 0, 23)}:{_calendar_values(self.minutes, 0, 59)}:00"
        month = _calendar_values(self.months, 1, 12)
        days = _calendar_values(self.days, 1, 31)
        if self.days_restricted and self.weekdays_restricted:
            return [f"{_systemd_weekdays(self.weekdays)} *-{month}-* {time}", f"*-{month}-{days} {time}"]
        weekdays = "" if len(self.weekdays) == 7 else _systemd_weekdays(self.weekdays) + " "
        return [f"{weekdays}*-{month}-{days} {time}"]

    def describe(self) -> str:
        """A short human description: "at 22:00, Mon-Fri", "every 15 minutes"."""
        parts = [self._describe_time()]
        days = self._describe_days()
        if days:
            parts.append(days)
        elif parts[0].startswith("at "):
            parts.append("every day")
        if len(self.months) < 12:
            parts.append("in " + _cron_list(self.months, lambda m: _MONTH_NAMES[m - 1].title(), order=int))
        return ", ".join(parts)

    def _describe_time(self) -> str:
        minutes, hours = sorted(self.minutes), sorted(self.hours)
        every_hour = len(hours) == 24
        if every_hour and len(minutes) == 60:
            return "every minute"
        if every_hour and len(minutes) > 1 and minutes[0] == 0 and 60 % len(minutes) == 0 \
                and minutes == list(range(0, 60, 60 // len(minutes))):
            return f"every {60 // len(minutes)} minutes"
        if every_hour:
            return "every hour at minute " + _cron_list(self.minutes, str)
        if len(minutes) * len(hours) <= 4:
            return "at " + ", ".join(f"{h:02d}:{m:02d}" for h in hours for m in minutes)
        return f"at minute {_cron_list(self.minutes, str)} of hour {_cron_list(self.hours, str)}"

    def _describe_days(self) -> str:
        weekdays = _cron_list(self.weekdays, lambda d: _SYSTEMD_WEEKDAYS[(d + 6) % 7], order=_monday_first)
        days = "day " + _cron_list(self.days, str) + " of the month"
        if self.days_restricted and self.weekdays_restricted:
            return f"on {days} or on {weekdays}"
        said = []
        if len(self.weekdays) < 7:
            said.append("on " + weekdays)
        if len(self.days) < 31:
            said.append("on " + days)
        return " and ".join(said)


def parse_cron(text: str) -> Cron:
    """Parse a cron expression (five fields or a macro).

    Raises:
        ValueError: one line naming the bad field and why, e.g. "hour field `25`: must be 0-23".
    """
    expression = " ".join(str(text).split())
    if not expression:
        raise ValueError("empty cron expression: expected five fields (minute hour day-of-month month day-of-week) "
                         "or a macro such as @daily")
    fields = expression
    if expression.startswith("@"):
        macro = expression.lower()
        if macro == "@reboot":
            raise ValueError("`@reboot` is not a time: a sprint is scheduled at times, e.g. `0 22 * * 1-5`")
        if macro not in MACROS:
            raise ValueError(f"unknown cron macro `{expression}`: use one of {', '.join(MACROS)}")
        expression, fields = macro, MACROS[macro]
    parts = fields.split(" ")
    if len(parts) != 5:
        raise ValueError(f"cron expression `{expression}` has {len(parts)} field(s); expected 5 "
                         "(minute hour day-of-month month day-of-week) or a macro such as @daily")
    sets = [_parse_field(part, spec) for part, spec in zip(parts, _FIELD_SPECS)]
    weekdays = frozenset(0 if day == 7 else day for day in sets[4])
    return Cron(expression=expression, fields=fields, minutes=sets[0], hours=sets[1], days=sets[2], months=sets[3],
                weekdays=weekdays, days_restricted=not parts[2].startswith("*"),
                weekdays_restricted=not parts[4].startswith("*"))


def _parse_field(text: str, spec: _Field) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        values |= _parse_item(item, text, spec)
    return frozenset(values)


def _parse_item(item: str, field: str, spec: _Field) -> set[int]:
    if not item:
        raise ValueError(f"{spec.name} field `{field}`: empty item in a list")
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) == 0:
            raise ValueError(f"{spec.name} field `{item}`: the step after `/` must be a whole number from 1")
        step = int(step_text)
    # An open end stops at Saturday, so `*/2` and `1/2` in the weekday field do not wrap round to Sunday via 7.
    open_end = 6 if spec.name == "day-of-week" else spec.high
    if base == "*":
        low, high = spec.low, open_end
    elif "-" in base:
        first, _, last = base.partition("-")
        low, high = _parse_value(first, item, spec), _parse_value(last, item, spec)
        if spec.name == "day-of-week" and high == 0 < low:
            high = 7  # `sat-sun`, `5-0`: a range that ends on Sunday ends the week
        if low > high:
            raise ValueError(f"{spec.name} field `{item}`: the range starts after it ends")
    else:
        low = _parse_value(base, item, spec)
        high = max(low, open_end) if slash else low
    return set(range(low, high + 1, step))


def _parse_value(text: str, item: str, spec: _Field) -> int:
    if text.isdigit():
        value = int(text)
        if not spec.low <= value <= spec.high:
            raise ValueError(f"{spec.name} field `{item}`: must be {spec.hint}")
        return value
    if spec.names and text.lower() in spec.names:
        return spec.names[text.lower()]
    if not text:
        raise ValueError(f"{spec.name} field `{item}`: a value is missing ({spec.hint})")
    raise ValueError(f"{spec.name} field `{item}`: `{text}` is not a number" + (
        f" or a name ({spec.hint})" if spec.names else f" ({spec.hint})"))


# -- systemd calendar syntax -------------------------------------------------------------------------------------


def _calendar_values(values: frozenset[int], low: int, high: int) -> str:
    """One component of a systemd calendar spec: "*", "22", "00/15", "01..05", "00,30"."""
    if values == frozenset(range(low, high + 1)):
        return "*"
    ordered = sorted(values)
    if len(ordered) >= 3:
        step = ordered[1] - ordered[0]
        if all(b - a == step for a, b in zip(ordered, ordered[1:])):
            first, last = f"{ordered[0]:02d}", f"{ordered[-1]:02d}"
            if step == 1:
                return f"{first}..{last}"
            if ordered[-1] + step > high:
                return f"{first}/{step}"  # systemd repeats to the component's end, as here
            return f"{first}..{last}/{step}"
    return ",".join(_runs(ordered, lambda v: f"{v:02d}"))


def _systemd_weekdays(weekdays: frozenset[int]) -> str:
    # systemd's week runs Mon..Sun, so Sunday (cron 0) sorts last and ranges never wrap.
    ordered = sorted((day + 6) % 7 for day in weekdays)
    return ",".join(_runs(ordered, lambda i: _SYSTEMD_WEEKDAYS[i], joiner=".."))


def _runs(ordered: list[int], name, joiner: str = "..") -> list[str]:
    """Sorted values as items, three or more consecutive ones as a range."""
    items: list[str] = []
    start = 0
    for end in range(len(ordered)):
        if end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            continue
        run = ordered[start:end + 1]
        if len(run) >= 3:
            items.append(f"{name(run[0])}{joiner}{name(run[-1])}")
        else:
            items.extend(name(v) for v in run)
        start = end + 1
    return items


def _monday_first(day: int) -> int:
    return (day + 6) % 7


def _cron_list(values: frozenset[int], name, order=None) -> str:
    """Values in cron's own list syntax for messages: "1-5", "1,15", "1-31/2"; names never take a step."""
    ordered = sorted(values, key=order)
    keys = [order(v) if order else v for v in ordered]
    by_key = dict(zip(keys, ordered))
    if order is None and len(keys) >= 3 and len({b - a for a, b in zip(keys, keys[1:])}) == 1 and keys[1] - keys[0] > 1:
        return f"{name(by_key[keys[0]])}-{name(by_key[keys[-1]])}/{keys[1] - keys[0]}"
    return ",".join(_runs(keys, lambda k: name(by_key[k]), joiner="-"))
