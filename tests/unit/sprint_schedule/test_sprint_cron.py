"""Cron expressions for sprint.schedule: parsing, next fire times, and their systemd OnCalendar= translation.

The OnCalendar= values are checked by their meaning, not their spelling: a small
evaluator of systemd's calendar syntax (below) must find the same fire times as
Cron.next_after, and so must systemd-analyze itself where it is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, datetime, timedelta, timezone

import pytest

from stager.sprint.cron import Cron, parse_cron

UTC = timezone.utc


def at(text: str, tz=UTC) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def fires(cron: Cron, start: datetime, count: int) -> list[datetime]:
    found, moment = [], start
    for _ in range(count):
        moment = cron.next_after(moment)
        found.append(moment)
    return found


# -- parsing ---------------------------------------------------------------------------------------------------


def test_the_five_fields_expand_to_their_sets():
    cron = parse_cron("0,30 */6 1-10/3 jan,JUL Mon-Fri")
    assert cron.minutes == {0, 30}
    assert cron.hours == {0, 6, 12, 18}
    assert cron.days == {1, 4, 7, 10}
    assert cron.months == {1, 7}
    assert cron.weekdays == {1, 2, 3, 4, 5}
    assert cron.expression == "0,30 */6 1-10/3 jan,JUL Mon-Fri"
    assert cron.days_restricted and cron.weekdays_restricted


def test_stars_cover_each_field_and_are_not_restrictions():
    cron = parse_cron("* * * * *")
    assert (len(cron.minutes), len(cron.hours), len(cron.days), len(cron.months), len(cron.weekdays)) == (60, 24, 31,
                                                                                                         12, 7)
    assert not cron.days_restricted and not cron.weekdays_restricted


@pytest.mark.parametrize(("field", "weekdays"), [
    ("7", {0}), ("0", {0}), ("sun", {0}), ("SAT-SUN", {6, 0}), ("5-7", {5, 6, 0}), ("0-7", set(range(7))),
    ("*/2", {0, 2, 4, 6}), ("1/2", {1, 3, 5}), ("mon,wed,fri", {1, 3, 5}),
])
def test_weekdays_fold_seven_into_sunday_and_accept_names(field, weekdays):
    assert parse_cron(f"0 0 * * {field}").weekdays == weekdays


def test_a_start_with_a_step_runs_to_the_fields_end():
    assert parse_cron("5/20 * * * *").minutes == {5, 25, 45}


def test_extra_whitespace_is_collapsed():
    assert parse_cron("  0   22 *\t* 1-5 ").expression == "0 22 * * 1-5"


@pytest.mark.parametrize(("macro", "fields"), [
    ("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"), ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"), ("@yearly", "0 0 1 1 *"), ("@ANNUALLY", "0 0 1 1 *"),
])
def test_macros_mean_their_five_fields(macro, fields):
    cron = parse_cron(macro)
    assert cron.fields == fields
    assert cron.expression == macro.lower()
    assert cron.on_calendar() == parse_cron(fields).on_calendar()


@pytest.mark.parametrize(("expression", "message"), [
    ("", "empty cron expression"),
    ("* * * *", "has 4 field(s); expected 5"),
    ("* * * * * *", "has 6 field(s); expected 5"),
    ("@fortnightly", "unknown cron macro `@fortnightly`"),
    ("@reboot", "`@reboot` is not a time"),
    ("60 * * * *", "minute field `60`: must be 0-59"),
    ("0 25 * * *", "hour field `25`: must be 0-23"),
    ("0 0 0 * *", "day-of-month field `0`: must be 1-31"),
    ("0 0 32 * *", "day-of-month field `32`: must be 1-31"),
    ("0 0 * 13 *", "month field `13`: must be 1-12 or jan-dec"),
    ("0 0 * * 8", "day-of-week field `8`: must be 0-7"),
    ("0 0 * smarch *", "month field `smarch`: `smarch` is not a number or a name"),
    ("0 0 * * funday", "day-of-week field `funday`: `funday` is not a number or a name"),
    ("0 mon * * *", "hour field `mon`: `mon` is not a number"),
    ("0 0 * jan-mon *", "month field `jan-mon`: `mon` is not a number"),
    ("1,,2 * * * *", "minute field `1,,2`: empty item"),
    ("*/0 * * * *", "minute field `*/0`: the step after `/` must be a whole number from 1"),
    ("*/x * * * *", "minute field `*/x`: the step"),
    ("5-2 * * * *", "minute field `5-2`: the range starts after it ends"),
    ("-1 * * * *", "minute field `-1`: a value is missing"),
    ("0 1- * * *", "hour field `1-`: a value is missing"),
    ("? * * * *", "minute field `?`: `?` is not a number"),
    ("0 0 L * *", "day-of-month field `L`"),
])
def test_a_bad_expression_names_its_field_in_one_line(expression, message):
    with pytest.raises(ValueError) as raised:
        parse_cron(expression)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


# -- next_after ------------------------------------------------------------------------------------------------


def test_next_after_is_strictly_after_and_ignores_seconds():
    cron = parse_cron("0 22 * * *")
    assert cron.next_after(at("2026-03-02 21:59:59")) == at("2026-03-02 22:00")
    assert cron.next_after(at("2026-03-02 22:00")) == at("2026-03-03 22:00")
    assert cron.next_after(at("2026-03-02 22:00:30")) == at("2026-03-03 22:00")


def test_next_after_crosses_month_and_year_ends():
    assert parse_cron("30 6 1 * *").next_after(at("2026-01-31 07:00")) == at("2026-02-01 06:30")
    assert parse_cron("0 0 * * *").next_after(at("2026-12-31 23:59")) == at("2027-01-01 00:00")
    assert parse_cron("0 12 31 * *").next_after(at("2026-04-01 00:00")) == at("2026-05-31 12:00")  # April has 30
    assert parse_cron("@yearly").next_after(at("2026-01-01 00:00")) == at("2027-01-01 00:00")


def test_the_29th_of_february_waits_for_a_leap_year():
    assert parse_cron("0 0 29 2 *").next_after(at("2024-03-01 00:00")) == at("2028-02-29 00:00")
    # 2100 is not a leap year
    assert parse_cron("0 0 29 2 *").next_after(at("2096-03-01 00:00")) == at("2104-02-29 00:00")


def test_weekdays_only_skip_the_weekend():
    cron = parse_cron("0 22 * * 1-5")
    friday = at("2026-03-06 22:00")
    assert friday.weekday() == 4
    assert cron.next_after(friday) == at("2026-03-09 22:00")  # Monday


def test_day_of_month_or_day_of_week_when_both_are_restricted():
    cron = parse_cron("0 0 13 * fri")  # every 13th, and every Friday
    found = fires(cron, at("2026-02-01 00:00"), 6)
    assert found == [at(d) for d in ("2026-02-06", "2026-02-13", "2026-02-20", "2026-02-27", "2026-03-06",
                                     "2026-03-13")]


def test_a_starred_day_field_keeps_both_must_match():
    # Vixie cron: a field starting with "*" is unrestricted, so the other one must match as well
    cron = parse_cron("0 0 */2 * mon")  # odd days that are Mondays
    for moment in fires(cron, at("2026-01-01 00:00"), 8):
        assert moment.weekday() == 0 and moment.day % 2 == 1


def test_the_time_zone_of_the_moment_is_kept():
    tokyo = timezone(timedelta(hours=9))
    moment = parse_cron("0 22 * * *").next_after(at("2026-03-02 23:00", tokyo))
    assert moment == at("2026-03-03 22:00", tokyo)
    assert moment.utcoffset() == timedelta(hours=9)


def test_a_time_skipped_by_daylight_saving_is_skipped():
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no time zone database here")
    cron = parse_cron("30 2 * * *")  # 2026-03-29 02:30 does not exist in Berlin
    moment = cron.next_after(datetime(2026, 3, 28, 12, 0, tzinfo=berlin))
    assert moment.replace(tzinfo=None) == datetime(2026, 3, 30, 2, 30)


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_cron("* * * * *").next_after(datetime(2026, 1, 1))


@pytest.mark.parametrize("expression", ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 apr,jun,sep,nov *", "0 0 31 2 */2"])
def test_impossible_dates_never_fire_and_say_so(expression):
    cron = parse_cron(expression)
    assert not cron.fires()
    with pytest.raises(ValueError, match="never fires"):
        cron.next_after(at("2026-01-01 00:00"))


def test_an_impossible_date_still_fires_on_its_weekday():
    cron = parse_cron("0 0 31 2 mon")  # both restricted: "or", so every Monday in February
    assert cron.fires()
    assert cron.next_after(at("2026-03-03 00:00")) == at("2027-02-01 00:00")


EXPRESSIONS = [
    "0 22 * * 1-5", "*/15 * * * *", "@daily", "@hourly", "@weekly", "@monthly", "@yearly", "0 0 1,15 * mon",
    "0 9 * jan,jul sat-sun", "5 4 * * 0", "30 6 */2 * *", "0 0-20/10 1 1 7", "0,30 8-10 * * *", "7 * * * 1,3,5",
    "0 12 1 */3 *", "0 0 * * 5-0", "15 3 29 2 *", "0 0 13 * fri", "0 0 */2 * mon", "45 23 31 * *",
    "1-4,50-59 0 1 1-3 *", "0 0 1-7 * 0", "20/7 */5 10-20/5 feb-nov/3 tue-thu", "0 0 31 12 5/3",
]


def brute_force(cron: Cron, start: datetime, count: int) -> list[datetime]:
    """The oracle: every minute from start, the day rule written out again here."""
    found, moment = [], start.replace(second=0, microsecond=0)
    day_ok: dict[date, bool] = {}
    while len(found) < count:
        moment += timedelta(minutes=1)
        today = moment.date()
        if today not in day_ok:
            by_date, by_weekday = today.day in cron.days, today.isoweekday() % 7 in cron.weekdays
            either = cron.days_restricted and cron.weekdays_restricted
            day_ok[today] = today.month in cron.months and ((by_date or by_weekday) if either
                                                            else (by_date and by_weekday))
        if not day_ok[today]:
            moment = datetime.combine(today, datetime.min.time(), moment.tzinfo) + timedelta(days=1, minutes=-1)
            continue
        if moment.hour in cron.hours and moment.minute in cron.minutes:
            found.append(moment)
    return found


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_next_after_agrees_with_a_minute_by_minute_search(expression):
    cron = parse_cron(expression)
    start = at("2027-12-30 17:43:10")
    assert fires(cron, start, 12) == brute_force(cron, start, 12)


# -- OnCalendar= -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("expression", "values"), [
    ("0 22 * * 1-5", ["Mon..Fri *-*-* 22:00:00"]),
    ("*/15 * * * *", ["*-*-* *:00/15:00"]),
    ("@daily", ["*-*-* 00:00:00"]),
    ("@monthly", ["*-*-01 00:00:00"]),
    ("5 4 * * 0", ["Sun *-*-* 04:05:00"]),
    ("0 9 * jan,jul sat-sun", ["Sat,Sun *-01,07-* 09:00:00"]),
    ("30 6 */2 * *", ["*-*-01/2 06:30:00"]),
    ("0 0-20/10 * * *", ["*-*-* 00/10:00:00"]),  # systemd repeats to the end of the day: 0, 10, 20
    ("0 0-12/6 * * *", ["*-*-* 00..12/6:00:00"]),
    ("0 0 1,15 * mon", ["Mon *-*-* 00:00:00", "*-*-01,15 00:00:00"]),
])
def test_on_calendar_in_systemd_syntax(expression, values):
    assert parse_cron(expression).on_calendar() == values


_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _values(component: str, names: list[str] | None = None, high: int = 31) -> set[int] | None:
    """One component of a systemd calendar spec as a set; None for "*"."""
    if component == "*":
        return None
    number = (lambda text: names.index(text)) if names else int
    values: set[int] = set()
    for item in component.split(","):
        base, _, step = item.partition("/")
        first, dots, last = base.partition("..")
        low = number(first)
        end = number(last) if dots else (high if step else low)
        values |= set(range(low, end + 1, int(step) if step else 1))
    return values


def systemd_matches(spec: str, moment: datetime, *, day_only: bool = False) -> bool:
    """The meaning of one OnCalendar= value stager writes: "[weekdays ]*-M-D H:M:S"."""
    parts = spec.split(" ")
    weekdays = _values(parts[0], _WEEKDAYS, 6) if len(parts) == 3 else None
    year, month, day = parts[-2].split("-")
    hour, minute, second = parts[-1].split(":")
    assert year == "*" and second == "00"
    checks = [(weekdays, moment.weekday()), (_values(month, high=12), moment.month), (_values(day), moment.day)]
    if not day_only:
        checks += [(_values(hour, high=23), moment.hour), (_values(minute, high=59), moment.minute)]
    return all(allowed is None or value in allowed for allowed, value in checks)


def systemd_fires(specs: list[str], start: datetime, count: int) -> list[datetime]:
    found, moment = [], start.replace(second=0, microsecond=0)
    while len(found) < count:
        moment += timedelta(minutes=1)
        if not any(systemd_matches(spec, moment, day_only=True) for spec in specs):
            moment = datetime.combine(moment.date(), datetime.min.time(), moment.tzinfo) + timedelta(days=1,
                                                                                                      minutes=-1)
            continue
        if any(systemd_matches(spec, moment) for spec in specs):
            found.append(moment)
    return found


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_on_calendar_means_the_same_times(expression):
    cron = parse_cron(expression)
    start = at("2026-12-30 17:43:10")
    assert systemd_fires(cron.on_calendar(), start, 8) == fires(cron, start, 8)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_systemd_analyze_agrees(expression):
    cron = parse_cron(expression)
    base = at("2026-12-30 17:43:10")
    elapses = []
    for value in cron.on_calendar():
        command = ["systemd-analyze", "calendar", "--iterations=6", f"--base-time={base:%Y-%m-%d %H:%M:%S} UTC", value]
        done = subprocess.run(command, capture_output=True, text=True, env={"TZ": "UTC", "PATH": "/usr/bin:/bin"})
        if "unrecognized option" in done.stderr:
            pytest.skip("this systemd-analyze has no --base-time")
        assert done.returncode == 0, done.stderr
        elapses += [at(stamp) for stamp in re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", done.stdout)]
    assert sorted(set(elapses))[:6] == fires(cron, base, 6)


# -- describe --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("expression", "words"), [
    ("0 22 * * 1-5", "at 22:00, on Mon-Fri"),
    ("*/15 * * * *", "every 15 minutes"),
    ("* * * * *", "every minute"),
    ("@daily", "at 00:00, every day"),
    ("7 * * * 1,3,5", "every hour at minute 7, on Mon,Wed,Fri"),
    ("0 0 1,15 * mon", "at 00:00, on day 1,15 of the month or on Mon"),
    ("0 12 1 */3 *", "at 12:00, on day 1 of the month, in Jan,Apr,Jul,Oct"),
])
def test_describe_in_words(expression, words):
    assert parse_cron(expression).describe() == words
