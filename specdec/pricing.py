"""Hourly instance prices from the dated, sourced table in specdec/prices.json (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from specdec.validation import UserError

PRICES_PATH = Path(__file__).resolve().parent / "prices.json"


class PriceMissing(UserError):
    """No sourced price for what was asked; `str()` says what is missing and what to do."""


@dataclass(frozen=True)
class HourlyPrice:
    usd: float
    source: str


def load_table(path: Path = PRICES_PATH) -> dict:
    return json.loads(path.read_text())


def instance_hourly(region: str, instance_type: str, capacity_type: str,
                    table: dict | None = None) -> HourlyPrice:
    table = table or load_table()
    entry = table["regions"].get(region, {}).get(instance_type)
    if entry is None:
        raise PriceMissing(f"no price for {instance_type} in {region} in specdec/prices.json "
                           f"(regions: {', '.join(table['regions'])}): pass --price-per-hour")
    # An On-Demand Capacity Reservation is billed at the On-Demand rate.
    column = "on_demand" if capacity_type == "capacity_reservation" else capacity_type
    value = entry.get(column)
    if value is None:
        raise PriceMissing(f"specdec/prices.json (checked {table['checked']}) has no sourced "
                           f"{capacity_type} price for {instance_type} in {region}: pass "
                           "--price-per-hour with the rate you pay")
    return HourlyPrice(value, f"specdec/prices.json, checked {table['checked']}: {entry['source']}")
