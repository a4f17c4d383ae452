"""Korean dates and times as the console writes them: 2026-12-06 and 2026-12-06 14:05,
the way Korean business software and spreadsheets write them, rather than Django's
"2026년 12월 6일 2:05 오후". Templates that format a date themselves use the same
("Y-m-d", "Y-m-d H:i"); these cover a date printed without a format. Typed days are read
by dates.DayField, in any language."""

from __future__ import annotations

DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
YEAR_MONTH_FORMAT = "Y년 n월"
MONTH_DAY_FORMAT = "n월 j일"
# Year first, as Koreans write a day; 10/25/2006 (month first) is not how anyone here
# types one.
DATE_INPUT_FORMATS = [
    "%Y-%m-%d",  # 2026-12-06
    "%Y.%m.%d",  # 2026.12.06
    "%Y%m%d",  # 20261206
    "%Y년 %m월 %d일",  # 2026년 12월 06일
]
DATETIME_INPUT_FORMATS = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
]
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
