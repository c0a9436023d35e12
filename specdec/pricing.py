"""Prices from the dated, sourced table in specdec/prices.json, or a file of the same layout (pure)."""

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
    try:
        table = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PriceMissing(f"{path}: not a readable price table ({error})") from None
    if not isinstance(table, dict) or not isinstance(table.get("regions"), dict) or "checked" not in table:
        raise PriceMissing(f"{path}: not a price table: it needs \"checked\" and \"regions\" "
                           "(the layout of specdec/prices.json)")
    return table


def instance_hourly(region: str, instance_type: str, capacity_type: str,
                    table: dict | None = None) -> HourlyPrice:
    table = table or load_table()
    entry = table["regions"].get(region, {}).get("instances", {}).get(instance_type)
    if entry is None:
        raise PriceMissing(f"no price for {instance_type} in {region} in specdec/prices.json "
                           f"(regions: {', '.join(table['regions'])}): pass --price-per-hour")
    # An On-Demand Capacity Reservation is billed at the On-Demand rate.
    column = "on_demand" if capacity_type == "capacity_reservation" else capacity_type
    price = entry.get(column) or {}
    if price.get("usd") is None:
        raise PriceMissing(f"specdec/prices.json (checked {table['checked']}) has no sourced "
                           f"{capacity_type} price for {instance_type} in {region}: pass "
                           "--price-per-hour with the rate you pay")
    return HourlyPrice(price["usd"], f"specdec/prices.json, checked {table['checked']}: {price['source']}")
