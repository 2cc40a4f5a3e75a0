"""KPI frames -> text for a terminal or a JSON consumer (what ``avito-kit kpi`` and ``make demo`` print).

Pure like ``charts``: a DataFrame in, a string out; numbers read as ``avito_kit.format`` writes them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from .format import format_date, format_datetime, format_decimal, format_int, format_pct, format_rub, is_missing

__all__ = [
    "KPI_KEYS",
    "NIGHT_PRICE_KEYS",
    "base_params_text",
    "kpi_json",
    "kpi_records",
    "kpi_table",
    "link_source_text",
    "links_table",
    "metric_csv",
    "metric_json",
    "metric_list",
    "metric_records",
    "night_prices_json",
    "night_prices_records",
    "night_prices_table",
]

# The keys of `avito-kit kpi --json`, in order; item_id is null on the total row.
KPI_KEYS = ("item_id", "nights_total", "nights_blocked", "nights_available", "nights_booked", "occupancy",
            "paid_occupancy", "revenue", "adr", "revpar", "stays", "alos")
_COUNTS = {"nights_total", "nights_blocked", "nights_available", "nights_booked", "stays"}

DEFINITIONS = ("Загрузка = занятые / доступные ночи (закрытые хозяином не в счёт); опл. загрузка = занятые / все "
               "ночи;\nвыручка = доля цены брони за каждую ночь; ADR = выручка / занятые ночи; RevPAR = выручка / "
               "доступные ночи;\nALOS = средняя полная длина броней с заездом в периоде (METRICS.md)")


def kpi_records(frame: pd.DataFrame) -> list[dict]:
    """``metrics.kpis`` rows as plain dicts with exactly ``KPI_KEYS``: ints for counts, floats for the rest,
    None for a missing item id (the total row) or an undefined ratio."""
    records = []
    for row in frame.to_dict("records"):
        record = {}
        for key in KPI_KEYS:
            value = row.get(key)
            if is_missing(value):
                record[key] = None
            elif key == "item_id" or key in _COUNTS:
                record[key] = int(value)
            else:
                record[key] = round(float(value), 6)
        records.append(record)
    return records


def kpi_json(frame: pd.DataFrame) -> str:
    return json.dumps(kpi_records(frame), ensure_ascii=False, indent=2)


def kpi_table(frame: pd.DataFrame, titles: dict[int, str] | None = None, heading: str = "") -> str:
    """A fixed-width table, one line per listing and the total last, with the definitions underneath."""
    titles = titles or {}
    header = ("Объявление", "Ночей", "Занято", "Закрыто", "Загрузка", "Опл. загр.", "Выручка", "ADR", "RevPAR",
              "Заезды", "ALOS")
    rows = []
    for r in kpi_records(frame):
        name = "Итого" if r["item_id"] is None else (titles.get(r["item_id"]) or str(r["item_id"]))
        rows.append((name[:34], format_int(r["nights_total"]), format_int(r["nights_booked"]),
                     format_int(r["nights_blocked"]), format_pct(r["occupancy"]), format_pct(r["paid_occupancy"]),
                     format_rub(r["revenue"]), format_rub(r["adr"]), format_rub(r["revpar"]),
                     format_int(r["stays"]), format_decimal(r["alos"])))
    widths = [max(len(str(line[i])) for line in [header, *rows]) for i in range(len(header))]
    lines = [heading] if heading else []
    for n, line in enumerate([header, *rows]):
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(line, widths,
                                                                                              strict=True))]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(DEFINITIONS)
    return "\n".join(lines)


# -- any metrics frame, for `avito-kit metric` ---------------------------------------------------------------


def _plain(value: Any) -> Any:
    """One cell as JSON wants it: None for missing, ints exact (booking ids exceed 2^53), dates as ISO text
    (a bare date when the time is midnight), durations in seconds."""
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return value
    if is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating, Decimal)):
        return float(value)
    if isinstance(value, (pd.Timedelta, dt.timedelta)):
        return pd.Timedelta(value).total_seconds()
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        stamp = pd.Timestamp(value)
        return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def metric_records(frame: pd.DataFrame) -> list[dict]:
    """A metrics frame as plain dicts, one per row, every column kept in order (see ``_plain``)."""
    columns = list(frame.columns)
    return [{c: _plain(v) for c, v in zip(columns, row, strict=True)}
            for row in frame.astype(object).itertuples(index=False, name=None)]


def metric_json(frame: pd.DataFrame) -> str:
    """``avito-kit metric NAME --json``: a JSON array of records."""
    return json.dumps(metric_records(frame), ensure_ascii=False, indent=2)


def metric_csv(frame: pd.DataFrame) -> str:
    """``avito-kit metric NAME --csv``: a header and one line per row; missing values are empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(frame.columns)
    for record in metric_records(frame):
        writer.writerow("" if v is None else v for v in record.values())
    return out.getvalue()


def metric_list(summaries: Mapping[str, str]) -> str:
    """``avito-kit metric --list``: one line per metric name, with its one-line description."""
    width = max((len(name) for name in summaries), default=0)
    return "\n".join(f"{name.ljust(width)}  {summary}" for name, summary in summaries.items())


# -- `avito-kit price show` -----------------------------------------------------------------------------------

NIGHT_PRICE_KEYS = ("night", "night_price", "minimal_duration", "extra_guest_fee", "source", "pushed_at", "audit_id")
_SOURCES = {"period": "цена периода", "base": "базовая цена"}


def night_prices_records(frame: pd.DataFrame) -> list[dict]:
    """``Store.night_prices`` rows as plain dicts with exactly ``NIGHT_PRICE_KEYS`` (ISO dates, ints, None)."""
    records = []
    for row in frame.to_dict("records"):
        record = {}
        for key in NIGHT_PRICE_KEYS:
            value = row.get(key)
            if is_missing(value):
                record[key] = None
            elif key == "night":
                record[key] = pd.Timestamp(value).date().isoformat()
            elif key == "pushed_at":
                record[key] = pd.Timestamp(value).isoformat(timespec="seconds")
            elif key == "source":
                record[key] = value
            else:
                record[key] = int(value)
        records.append(record)
    return records


def night_prices_json(frame: pd.DataFrame) -> str:
    return json.dumps(night_prices_records(frame), ensure_ascii=False, indent=2)


def night_prices_table(frame: pd.DataFrame, base: dict | None = None) -> str:
    """One line per night: price, minimum stay, extra-guest fee and where it came from (the push and its audit
    id), then the listing's base parameters as last pushed."""
    header = ("Ночь", "Цена", "Мин. ночей", "Доплата", "Источник")
    rows = []
    for r in night_prices_records(frame):
        source = _SOURCES.get(r["source"], "не задана avito_kit")
        if r["source"] == "period":
            source += f" ({format_datetime(r['pushed_at'], ' UTC')}, аудит №{r['audit_id']})"
        rows.append((format_date(r["night"]), format_rub(r["night_price"]), format_int(r["minimal_duration"]),
                     format_rub(r["extra_guest_fee"]), source))
    widths = [max(len(str(line[i])) for line in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
             for line in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if base is not None:
        lines.append(f"Базовые параметры, отправленные последними: {base_params_text(base)}")
    lines.append("Авито не показывает цены обратно: здесь только то, что отправил avito_kit.")
    return "\n".join(lines)



def base_params_text(current: dict) -> str:
    """``Store.current_base_params`` as the host reads it, in Russian."""
    shown = []
    if not is_missing(current.get("night_price")):
        shown.append(f"цена {format_rub(current['night_price'])}")
    if not is_missing(current.get("minimal_duration")):
        shown.append(f"мин. ночей {current['minimal_duration']}")
    if not is_missing(current.get("instant_active")):
        shown.append("мгновенная бронь " + ("включена" if current["instant_active"] else "выключена"))
    if current.get("discounts"):
        shown.append("скидки " + ", ".join(f"от {d['threshold']} – {d['percent']} %" for d in current["discounts"]))
    if not is_missing(current.get("refund_days")):
        shown.append(f"отмена за {current['refund_days']} дн.")
    if not is_missing(current.get("extra_guest_fee")):
        shown.append(f"доплата за гостя {format_rub(current['extra_guest_fee'])}")
    return "; ".join(shown) or "avito_kit ещё ничего не отправлял (Авито не показывает параметры обратно)"


def link_source_text(source: str) -> str:
    """A link as shown: private feed URLs carry their token in the query (Airbnb's ``?s=``), which is left out."""
    return source.split("?", 1)[0] + (" (?…)" if "?" in source else "")


def links_table(frame: pd.DataFrame) -> str:
    """``avito-kit calendar links``: one line per linked calendar (Russian: the host reads it)."""
    if frame.empty:
        return "Связанных календарей нет: добавьте `avito-kit calendar link ITEM_ID URL_OR_FILE --name NAME`"
    lines = []
    for row in frame.itertuples():
        state = (f"ошибка: {row.error}" if not is_missing(row.error) else
                 "ещё не читался" if is_missing(row.pulled_at) else
                 f"прочитан {format_datetime(row.pulled_at, ' UTC')}")
        lines.append(f"{row.item_id}  «{row.name}»  {link_source_text(row.source)}  {state}")
    return "\n".join(lines)
