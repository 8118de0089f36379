"""The two import file formats: their columns, and the text that documents them.

Kept in one place so that ``crm import --help``, the README and the checks of a file's
header can never disagree about what a column is called.
"""

from __future__ import annotations

from adapters.imports.csv_file import CsvFormat

ATTRIBUTE_PREFIX = "attr."
ADDRESS_PREFIX = "address_"
ADDRESS_FIELDS = ("line1", "line2", "city", "region", "postal_code", "country")

CUSTOMERS = CsvFormat(
    required=("external_ref", "kind", "name"),
    optional=(
        "phone",
        "email",
        "birthday",
        "industry",
        "size",
        "region",
        "source_channel",
        "owner_id",
        "management_class",
        "marketing_type",
        "tier",
        "registered_at",
        *(ADDRESS_PREFIX + name for name in ADDRESS_FIELDS),
    ),
    prefixes=(ATTRIBUTE_PREFIX,),
)

# Columns that describe the whole order: repeated on each of its lines, or left blank after
# the first one. A value that differs from the order's first line is an error.
ORDER_COLUMNS = (
    "order_ref",
    "customer_ref",
    "currency",
    "status",
    "approved_at",
    "fulfilled_at",
    "paid_at",
    "cancelled_at",
    "order_type",
    "delivery_date",
    "payment_terms",
)
LINE_COLUMNS = ("sku", "item_name", "spec", "quantity", "unit_price", "discount_pct", "unit_cost")

_ORDERS_REQUIRED = (
    "order_ref",
    "customer_ref",
    "currency",
    "status",
    "approved_at",
    "sku",
    "item_name",
    "quantity",
    "unit_price",
)
ORDERS = CsvFormat(
    required=_ORDERS_REQUIRED,
    optional=tuple(c for c in (*ORDER_COLUMNS, *LINE_COLUMNS) if c not in _ORDERS_REQUIRED),
)

CUSTOMERS_HELP = """\
customers.csv: one row per customer, UTF-8 (a byte-order mark is fine), a header line.
  required  external_ref (the id in the source system: unique, letters, digits, _ . : / -),
            kind (individual | company), name
  optional  phone, email, birthday (YYYY-MM-DD), industry, size, region, source_channel,
            owner_id, management_class (regular | potential | key | occasional),
            marketing_type (economic | ethical | personalising | convenience),
            tier (transactional | preferred_supplier | partner | strategic_alliance),
            registered_at (business time of the registration, see dates),
            address_line1, address_line2, address_city, address_region,
            address_postal_code, address_country (ISO 3166 alpha-2),
            attr.KEY (any number: free attributes, e.g. attr.credit_limit)
  each row is RegisterCustomer with command id import:customer:<external_ref>"""

ORDERS_HELP = """\
orders.csv: one row per order LINE; rows with the same order_ref make one order (they
need not be adjacent). Order columns may be left blank after the order's first row.
  order     order_ref (unique, like external_ref), customer_ref (a customer's external_ref,
            already in the store), currency (ISO 4217), status (approved | fulfilled |
            paid | cancelled), approved_at, fulfilled_at (fulfilled, paid), paid_at (paid),
            cancelled_at (cancelled), order_type (standard | contract), delivery_date
            (YYYY-MM-DD), payment_terms
  line      sku, item_name, quantity (> 0), unit_price (>= 0), spec, discount_pct (0-100),
            unit_cost (for margin)
  each order is ImportOrder with command id import:order:<order_ref>"""

COMMON_HELP = """\
dates: YYYY-MM-DD (00:00 UTC) or ISO 8601 with an offset (2024-03-01T09:30:00+08:00);
a number (20240301, or Unix time) is refused, never guessed at.
Numbers use a dot for decimals and no thousands separator. Blank cells are absent values.
Every row is checked first, the business rules included; a file with any bad row writes
nothing and lists every problem as FILE:LINE: COLUMN: reason (exit 1). Importing the same
file again records nothing new ("0 new, N already imported")."""
