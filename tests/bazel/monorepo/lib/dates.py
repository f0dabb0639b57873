"""Uses a wheel from the lock (python-dateutil, which imports six)."""

import datetime

from dateutil.relativedelta import relativedelta


def add_months(day: str, months: int) -> str:
    return (datetime.date.fromisoformat(day) + relativedelta(months=months)).isoformat()
