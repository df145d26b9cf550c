"""Formatting for the wizard's pages: the services keep times as Unix timestamps or ISO strings, and a person
reads a date, "just now" or "3 minutes ago", never "0 minutes" or a float."""

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import npgettext_lazy

from wizard.presenters import result_time
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS

register = template.Library()

# Below this, timesince would say "0 minutes".
JUST_NOW = timedelta(minutes=1)
# timesince's units, translated for where the pages put them: after "ago" and "for … so far" ("vor …", "seit …"),
# which German declines (Django's own are for a bare duration).
SINCE = {
    "year": npgettext_lazy("since", "%(num)d year", "%(num)d years", "num"),
    "month": npgettext_lazy("since", "%(num)d month", "%(num)d months", "num"),
    "week": npgettext_lazy("since", "%(num)d week", "%(num)d weeks", "num"),
    "day": npgettext_lazy("since", "%(num)d day", "%(num)d days", "num"),
    "hour": npgettext_lazy("since", "%(num)d hour", "%(num)d hours", "num"),
    "minute": npgettext_lazy("since", "%(num)d minute", "%(num)d minutes", "num"),
}


@register.filter
def as_datetime(value: object) -> datetime | None:
    """A datetime from what a step's result holds: a datetime, a Unix timestamp or an ISO 8601 string."""
    return value if isinstance(value, datetime) else result_time(value)


@register.filter
def ago(value: object) -> str:
    """'just now', '5 minutes ago', '2 days, 3 hours ago'; '' when there is no time."""
    moment = as_datetime(value)
    if moment is None:
        return ""
    if timezone.now() - moment < JUST_NOW:
        return _("just now")
    return _("{duration} ago").format(duration=timesince(moment, time_strings=SINCE))


@register.filter
def elapsed(value: object) -> str:
    """How long since `value`, for "waiting … so far" and ages: 'less than a minute', '4 minutes'."""
    moment = as_datetime(value)
    if moment is None:
        return ""
    if timezone.now() - moment < JUST_NOW:
        return _("less than a minute")
    return timesince(moment, time_strings=SINCE)


@register.simple_tag
def room_list_max_members() -> int:
    return ROOM_LIST_MAX_MEMBERS
