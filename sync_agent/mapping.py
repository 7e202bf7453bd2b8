"""Mappings: the files IT admins edit to fit a channel to the ERP
(DESIGN §8). One YAML file per channel, with an optional CSV of SKUs
beside it:

- ``statuses``: the channel's own status → canonical status, overriding
  the adapter's reading (for example Shopify ``AUTHORIZED`` orders that the
  merchant ships);
- ``skus`` and ``sku_file``: channel SKU → ERP SKU (product code), for
  orders and the channel's refunds and returns; stock levels, shipments
  and the ERP's refunds go the other way;
- ``carriers``: ERP carrier code → the channel's carrier name, for
  fulfilments (a shipment by a carrier the file does not map fails with
  the file named; the ERP offers it again after a back-off);
- ``warehouses``: ERP warehouse code → the channel's location (a Shopify
  location's name or id), for stock levels;
- ``fulfilled_by_channel``: channel SKUs the marketplace ships from its
  own stock (Amazon FBA): no stock level is pushed to them, and one may
  map to the same ERP SKU as the SKU the seller ships (the same product
  sold both ways).

`Mapping.apply` runs between ``normalize_order`` and the ERP; `check`
reports every problem of a file with its file and line.
"""
from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from oms_contract.models import ChannelReturn, Order, OrderStatus

from .yamlfile import Problem, read_yaml

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

SKU_HEADER = ['channel_sku', 'erp_sku']


class MappingFile(BaseModel):
    "What a mapping YAML file may hold"
    model_config = ConfigDict(extra='forbid')

    channel: Text | None = Field(None, description=(
            "The channel code the file is for; checked when given"))
    kind: Text | None = None
    statuses: dict[Text, OrderStatus] = Field(default_factory=dict)
    skus: dict[Text, Text] = Field(default_factory=dict)
    sku_file: Path | None = None
    carriers: dict[Text, Text] = Field(default_factory=dict)
    warehouses: dict[Text, Text] = Field(default_factory=dict)
    fulfilled_by_channel: list[Text] = Field(default_factory=list)


@dataclasses.dataclass
class Mapping:
    "A channel's mappings, ready to apply"
    statuses: dict[str, OrderStatus] = dataclasses.field(
        default_factory=dict)
    skus: dict[str, str] = dataclasses.field(default_factory=dict)
    carriers: dict[str, str] = dataclasses.field(default_factory=dict)
    warehouses: dict[str, str] = dataclasses.field(default_factory=dict)
    fulfilled_by_channel: set[str] = dataclasses.field(default_factory=set)
    source: str | None = None

    def __post_init__(self) -> None:
        # Stock and shipments go to the SKU the seller ships
        self.channel_skus = {erp: channel
            for channel, erp in self.skus.items()
            if channel not in self.fulfilled_by_channel}

    def apply(self, order: Order, channel_status: str | None = None
            ) -> Order:
        """The order as the ERP should receive it: status overridden for
        the channel's status, SKUs translated."""
        changes = {}
        status = self.status_for(channel_status)
        if status is not None and status != order.status:
            changes['status'] = status
        if self.skus and any(line.sku in self.skus for line in order.lines):
            changes['lines'] = [
                line.model_copy(update={'sku': self.skus[line.sku]})
                if line.sku in self.skus else line
                for line in order.lines]
        return order.model_copy(update=changes) if changes else order

    def apply_return(self, channel_return: ChannelReturn) -> ChannelReturn:
        """A refund or return as the ERP should receive it: its lines'
        SKUs translated as an order's are."""
        if not any(line.sku in self.skus for line in channel_return.lines):
            return channel_return
        return channel_return.model_copy(update={'lines': [
                    line.model_copy(update={'sku': self.skus[line.sku]})
                    if line.sku in self.skus else line
                    for line in channel_return.lines]})

    def status_for(self, channel_status: str | None) -> OrderStatus | None:
        """The override for a channel status: its full text first, then its
        first part (Shopify's is "FINANCIAL/FULFILLMENT")."""
        if not channel_status or not self.statuses:
            return None
        if channel_status in self.statuses:
            return self.statuses[channel_status]
        return self.statuses.get(channel_status.split('/', 1)[0])

    def channel_sku(self, erp_sku: str) -> str:
        "The SKU the channel knows an ERP SKU by"
        return self.channel_skus.get(erp_sku, erp_sku)

    def location(self, warehouse: str | None) -> str | None:
        "The channel location of an ERP warehouse, None when unmapped"
        if warehouse is None:
            return None
        return self.warehouses.get(warehouse)

    def carrier(self, erp_carrier: str) -> str:
        "The channel's name of an ERP carrier code; MappingError if unmapped"
        if erp_carrier not in self.carriers:
            raise MappingError(
                f"carrier {erp_carrier!r} has no channel carrier in "
                f"{self.source or 'the mapping file'} (carriers:)")
        return self.carriers[erp_carrier]


class MappingError(Exception):
    "A mapping file with problems, or a value it does not map"


def load(path: Path, channel: str | None = None, kind: str | None = None,
        known_statuses: set[str] | None = None) -> Mapping:
    "The mapping in a file; MappingError listing every problem"
    mapping, problems = check(path, channel, kind, known_statuses)
    if problems:
        raise MappingError('\n'.join(str(p) for p in problems))
    return mapping


def check(path: Path, channel: str | None = None, kind: str | None = None,
        known_statuses: set[str] | None = None
        ) -> tuple[Mapping | None, list[Problem]]:
    """Read a mapping file and its SKU file; every problem found, each with
    its file and line. `known_statuses` are the channel kind's own status
    words, to catch typos."""
    data, problems = read_yaml(path, MappingFile, partial=True)
    if data is None:
        return None, problems
    lines = _key_lines(path)
    if channel and data.channel and data.channel != channel:
        problems.append(Problem(str(path), lines.get('channel'), (
                    f"channel: the file is for {data.channel!r}, "
                    f"not {channel!r}")))
    if kind and data.kind and data.kind != kind:
        problems.append(Problem(str(path), lines.get('kind'),
                f"kind: the file is for {data.kind!r}, not {kind!r}"))
    kind = kind or data.kind
    if known_statuses is None and kind:
        known_statuses = channel_statuses(kind)
    for status in data.statuses:
        word = status.split('/', 1)[0]
        if known_statuses and word not in known_statuses:
            problems.append(Problem(str(path), lines.get(status), (
                        f"statuses: {status!r} is not a {kind} status "
                        f"(known: {', '.join(sorted(known_statuses))})")))
    skus = dict(data.skus)
    # Where each SKU is mapped: its key in this file, or its CSV row.
    where = {sku: (str(path), lines.get(sku)) for sku in skus}
    if data.sku_file:
        sku_path = data.sku_file
        if not sku_path.is_absolute():
            sku_path = path.parent / sku_path
        from_csv, csv_problems = read_skus(sku_path)
        problems += csv_problems
        for sku, erp_sku in from_csv.items():
            if skus.get(sku, erp_sku) != erp_sku:
                problems.append(Problem(str(sku_path), from_csv.line[sku], (
                            f"{sku!r} maps to {erp_sku!r} here but to "
                            f"{skus[sku]!r} in {path.name} (skus:)")))
            where.setdefault(sku, (str(sku_path), from_csv.line[sku]))
            skus.setdefault(sku, erp_sku)
    by_erp: dict[str, str] = {}
    fulfilled = set(data.fulfilled_by_channel)
    for sku, erp_sku in skus.items():
        if sku in fulfilled:
            continue  # never pushed to: it may share its ERP SKU
        if erp_sku in by_erp:
            # Stock levels could not tell which channel SKU to update.
            problems.append(Problem(*where[sku], (
                        f"ERP SKU {erp_sku!r} is mapped from both "
                        f"{by_erp[erp_sku]!r} and {sku!r}")))
        by_erp[erp_sku] = sku
    if problems:
        return None, problems
    mapping = Mapping(
        statuses=dict(data.statuses), skus=skus,
        carriers=dict(data.carriers), warehouses=dict(data.warehouses),
        fulfilled_by_channel=fulfilled, source=str(path))
    return mapping, problems


class _SkuMap(dict):
    line: dict[str, int]


def read_skus(path: Path) -> tuple[_SkuMap, list[Problem]]:
    "channel_sku,erp_sku rows; every bad row reported with its line"
    skus, problems = _SkuMap(), []
    skus.line = {}
    try:
        handle = path.open(newline='', encoding='utf-8-sig')
    except OSError as error:
        return skus, [Problem(str(path), None,
                f"cannot read the SKU file: {error.strerror}")]
    with handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if [h.strip().lower() for h in header or []] != SKU_HEADER:
            problems.append(Problem(str(path), 1, (
                        f"the first row must be {','.join(SKU_HEADER)}, "
                        f"not {','.join(header or [])!r}")))
            return skus, problems
        while True:
            line = rows.line_num + 1  # where the row starts
            try:
                row = next(rows)
            except StopIteration:
                break
            if any('\n' in cell for cell in row):
                # An unclosed quote takes in the lines after it
                problems.append(Problem(str(path), line,
                        "a quote opened on this row is not closed"))
                break
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != 2 or not all(cell.strip() for cell in row):
                problems.append(Problem(str(path), line, (
                            "each row needs a channel SKU and an ERP SKU, "
                            f"got {row!r}")))
                continue
            sku, erp_sku = row[0].strip(), row[1].strip()
            if sku in skus:
                problems.append(Problem(str(path), line, (
                            f"{sku!r} is mapped again (first on line "
                            f"{skus.line[sku]})")))
                continue
            skus[sku] = erp_sku
            skus.line[sku] = line
    return skus, problems


def channel_statuses(kind: str) -> set[str]:
    "The status words a channel kind uses, as its adapter reads them"
    from .channels import channel_kind
    return set(channel_kind(kind).mapper.CHANNEL_STATUSES)


def _key_lines(path: Path) -> dict[str, int]:
    "Line of each key of the file, at any depth (for messages)"
    import yaml
    lines: dict[str, int] = {}
    try:
        node = yaml.compose(path.read_text(encoding='utf-8'),
            Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return lines
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines.setdefault(str(key.value), key.start_mark.line + 1)
                stack.append(value)
    return lines
