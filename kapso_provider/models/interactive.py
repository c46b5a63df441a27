"""The interactive kinds only Kapso's current API sends: call-to-action URL, WhatsApp Flow, location request,
product, product list and catalog messages.

Each is a neutral model like the others (flat fields a DAG author writes, WhatsApp's limits checked when it
is built); ``interactive_type`` takes the WhatsApp Cloud API's own name of the kind. API v1 refuses all of
them (:attr:`~kapso_provider.models.KapsoMessage.current_only`); the current API renders them into Meta's
``interactive`` object (``kapso_provider.api.current.bodies``).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from kapso_provider.models._limits import (
    PRODUCT_ITEMS_MAX,
    PRODUCT_SECTIONS_MAX,
    PRODUCT_SECTIONS_MIN,
)
from kapso_provider.models._rules import (
    CtaDisplayText,
    FlowCta,
    FooterText,
    HeaderText,
    HttpUrl,
    InteractiveBody,
    Model,
    NonEmpty,
    Problems,
    ProductSectionTitle,
    check_count,
    rule,
    shown,
)
from kapso_provider.models.messages import KapsoMessage

__all__ = [
    "CatalogMessage",
    "CtaUrlMessage",
    "FlowMessage",
    "LocationRequestMessage",
    "ProductListMessage",
    "ProductMessage",
    "ProductSection",
]


class _CurrentInteractive(KapsoMessage):
    """Shared by the current API's interactive kinds: the body every one of them shows.

    :param body_text: the message text, 1 to :data:`INTERACTIVE_BODY_MAX_CHARS` characters.
    """

    current_only: ClassVar[bool] = True

    message_type: Literal["interactive"] = "interactive"
    body_text: InteractiveBody

    def summary(self) -> str:
        return self.body_text


class CtaUrlMessage(_CurrentInteractive):
    """A message with one button that opens a web page.

    :param button_text: the button's label, 1 to ``CTA_DISPLAY_TEXT_MAX_CHARS`` characters.
    :param button_url: the http(s) URL the button opens.
    :param header_text: up to :data:`HEADER_TEXT_MAX_CHARS` characters.
    :param footer_text: up to :data:`FOOTER_TEXT_MAX_CHARS` characters.
    """

    label: ClassVar[str] = "call-to-action URL"

    interactive_type: Literal["cta_url"] = "cta_url"
    button_text: CtaDisplayText
    button_url: HttpUrl
    header_text: HeaderText | None = None
    footer_text: FooterText | None = None


class FlowMessage(_CurrentInteractive):
    """A message whose button opens a WhatsApp Flow (a form the customer fills in inside WhatsApp).

    :param flow_id: the Flow's WhatsApp id; or else
    :param flow_name: the Flow's name (exactly one of the two).
    :param flow_cta: the button's label, 1 to ``FLOW_CTA_MAX_CHARS`` characters.
    :param flow_token: a token of yours, sent back with the customer's answers.
    :param flow_action: ``navigate`` (WhatsApp's default) or ``data_exchange``.
    :param flow_screen: the first screen to show (with ``navigate``).
    :param flow_data: data for the first screen; needs ``flow_screen``.
    :param flow_mode: ``published`` (WhatsApp's default) or ``draft``, to test an unpublished Flow.
    :param header_text: up to :data:`HEADER_TEXT_MAX_CHARS` characters.
    :param footer_text: up to :data:`FOOTER_TEXT_MAX_CHARS` characters.
    """

    label: ClassVar[str] = "WhatsApp Flow"

    interactive_type: Literal["flow"] = "flow"
    flow_id: NonEmpty | None = None
    flow_name: NonEmpty | None = None
    flow_cta: FlowCta
    flow_token: NonEmpty | None = None
    flow_action: Literal["navigate", "data_exchange"] | None = None
    flow_screen: NonEmpty | None = None
    flow_data: dict[str, Any] | None = None
    flow_mode: Literal["draft", "published"] | None = None
    header_text: HeaderText | None = None
    footer_text: FooterText | None = None

    def _check(self, problems: Problems) -> None:
        if (self.flow_id is None) == (self.flow_name is None):
            problems.append(("flow_id", "give exactly one of flow_id or flow_name"))
        if self.flow_data is not None and self.flow_screen is None:
            problems.append(("flow_data", "needs flow_screen, the screen the data is for"))
        if self.flow_screen is not None and self.flow_action == "data_exchange":
            problems.append(("flow_screen", "only with flow_action navigate; data_exchange asks your endpoint"))


class LocationRequestMessage(_CurrentInteractive):
    """A message with a button that asks the customer to share their location."""

    label: ClassVar[str] = "location request"

    interactive_type: Literal["location_request_message"] = "location_request_message"


class ProductMessage(_CurrentInteractive):
    """One product of your WhatsApp catalog.

    :param catalog_id: the catalog's id.
    :param product_retailer_id: the product's id in the catalog.
    :param footer_text: up to :data:`FOOTER_TEXT_MAX_CHARS` characters.
    """

    label: ClassVar[str] = "product"

    interactive_type: Literal["product"] = "product"
    catalog_id: NonEmpty
    product_retailer_id: NonEmpty
    footer_text: FooterText | None = None


def _check_product_ids(ids: tuple[str, ...]) -> Problems:
    problems: Problems = []
    if not ids:
        problems.append(("", "0 products, minimum 1"))
    for index, value in enumerate(ids):
        if not value.strip():
            problems.append((f"[{index}]", "empty product id"))
    return problems


class ProductSection(Model):
    """A titled group of products of a product list.

    :param title: 1 to ``PRODUCT_SECTION_TITLE_MAX_CHARS`` characters.
    :param product_retailer_ids: the products' ids in the catalog, at least one.
    """

    title: ProductSectionTitle
    product_retailer_ids: Annotated[tuple[str, ...], rule(_check_product_ids)]


def _check_product_sections(sections: tuple[ProductSection, ...]) -> Problems:
    problems: Problems = []
    check_count(problems, "", len(sections), "sections", PRODUCT_SECTIONS_MIN, PRODUCT_SECTIONS_MAX)
    products = sum(len(section.product_retailer_ids) for section in sections)
    if products > PRODUCT_ITEMS_MAX:
        problems.append(("", f"{products} products in total, limit {PRODUCT_ITEMS_MAX}"))
    first_seen: dict[str, str] = {}
    for section_index, section in enumerate(sections):
        for item_index, product in enumerate(section.product_retailer_ids):
            path = f"[{section_index}].product_retailer_ids[{item_index}]"
            if product in first_seen:
                problems.append((path, f"{shown(product)} repeats sections{first_seen[product]}"))
            else:
                first_seen[product] = path
    return problems


class ProductListMessage(_CurrentInteractive):
    """Up to ``PRODUCT_ITEMS_MAX`` products of your catalog, in sections.

    :param header_text: the list's title, 1 to :data:`HEADER_TEXT_MAX_CHARS` characters (required).
    :param catalog_id: the catalog's id.
    :param sections: ``PRODUCT_SECTIONS_MIN`` to ``PRODUCT_SECTIONS_MAX`` sections; products unique.
    :param footer_text: up to :data:`FOOTER_TEXT_MAX_CHARS` characters.
    """

    label: ClassVar[str] = "product list"

    interactive_type: Literal["product_list"] = "product_list"
    header_text: HeaderText
    catalog_id: NonEmpty
    sections: Annotated[tuple[ProductSection, ...], rule(_check_product_sections)]
    footer_text: FooterText | None = None

    def _check(self, problems: Problems) -> None:
        if not self.header_text.strip():
            problems.append(("header_text", "required for product list messages (WhatsApp shows it as the title)"))


class CatalogMessage(_CurrentInteractive):
    """A button that opens your whole WhatsApp catalog.

    :param thumbnail_product_retailer_id: the product whose picture the message shows; WhatsApp picks one
        when it is left out.
    :param footer_text: up to :data:`FOOTER_TEXT_MAX_CHARS` characters.
    """

    label: ClassVar[str] = "catalog"

    interactive_type: Literal["catalog_message"] = "catalog_message"
    thumbnail_product_retailer_id: NonEmpty | None = None
    footer_text: FooterText | None = None
