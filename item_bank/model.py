"""The item model shared by every format, the bank file, scoring and the server.

An item is plain data. It is validated once, where it enters the system (an import or a
decrypted bank entry), so everything downstream may trust it.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import defusedxml.ElementTree as SafeET
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

#: Item ids travel in file names, URLs of the admin pages and audit logs: keep them tame.
ITEM_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"
#: Option labels as authored (A..E in SKD banks, identifiers such as ChoiceA in QTI).
OPTION_LABEL_PATTERN = r"^[A-Za-z0-9_\-]{1,32}$"
MIN_OPTIONS = 2
MAX_OPTIONS = 8
#: Media types an item image may have; anything else is refused at import.
IMAGE_MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp")
MAX_IMAGE_BYTES = 2 * 1024 * 1024

ItemId = Annotated[str, StringConstraints(pattern=ITEM_ID_PATTERN)]
OptionLabel = Annotated[str, StringConstraints(pattern=OPTION_LABEL_PATTERN)]
NonEmptyText = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
ShortName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class ImageAsset(BaseModel):
    """An image embedded in an item, referenced from Markdown by its ``name``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    media_type: Literal["image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp"]
    data: bytes = Field(repr=False, max_length=MAX_IMAGE_BYTES)


class IrtParams(BaseModel):
    """IRT parameters on the logistic metric (D = 1).

    Dichotomous items use ``a``, ``b``, ``c`` (and ``d`` for 4PL). Weighted (polytomous)
    items use ``a`` and the ordered category ``thresholds`` of a graded-response or
    generalised partial-credit model.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: Literal["1pl", "2pl", "3pl", "4pl", "grm", "gpcm"] = "2pl"
    a: float = Field(1.0, gt=0, le=10)
    b: float | None = Field(None, ge=-10, le=10)
    c: float = Field(0.0, ge=0, lt=1)
    d: float = Field(1.0, gt=0, le=1)
    thresholds: tuple[float, ...] | None = None

    @model_validator(mode="after")
    def _shape_matches_model(self) -> IrtParams:
        if self.model in ("grm", "gpcm"):
            if not self.thresholds:
                raise ValueError(f"model {self.model} needs category thresholds")
        elif self.b is None:
            raise ValueError(f"model {self.model} needs a difficulty b")
        if self.c >= self.d:
            raise ValueError("the lower asymptote c must be below the upper asymptote d")
        return self


class ItemMeta(BaseModel):
    """What form assembly and reporting need to know of an item without its content.

    This is what a bank's (encrypted) index holds: no stem, no options, no key.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: ItemId
    section: ShortName
    topic: Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)] = ""
    difficulty: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = (
        None
    )
    n_options: int = Field(ge=MIN_OPTIONS, le=MAX_OPTIONS)
    scoring: Literal["key", "weights"]
    enemies: tuple[ItemId, ...] = ()
    irt: IrtParams | None = None
    #: Authored option numbers (0-based) that keep their place when options are shuffled.
    fixed: tuple[int, ...] = ()


#: Where a catalog card applies: the stem, one option, or the item as a whole.
CATALOG_PART_PATTERN = r"^(stem|item|option:[A-Za-z0-9_\-]{1,32})$"
#: QTI 3.0 support names (``spoken``, ``braille``, ``glossary-on-screen``, ``ext:...``).
SUPPORT_PATTERN = r"^[A-Za-z][A-Za-z0-9_.:\-]{0,63}$"
#: Catalog supports a terminal gives to a candidate whose accommodation asks for them:
#: ``spoken`` read aloud, ``simplified-language`` shown beside the text (docs/formats.md).
TERMINAL_SUPPORTS = ("spoken", "simplified-language")


class CatalogCard(BaseModel):
    """One accessibility support of an item, from a QTI catalog (``qti-card``) or an APIP
    access element: kept with the item, written back on export, and offered by the terminal
    to candidates whose accommodation asks for a support it can give (docs/formats.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The part of the item the card belongs to.
    part: Annotated[str, StringConstraints(pattern=CATALOG_PART_PATTERN)]
    #: The catalog's id as authored (cards of one catalog share it).
    catalog: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    support: Annotated[str, StringConstraints(pattern=SUPPORT_PATTERN)]
    #: ``xml:lang`` of a card entry; empty when the card has none.
    lang: Annotated[str, StringConstraints(max_length=35)] = ""
    #: The card's content as XHTML markup, verbatim (written back on export).
    html: Annotated[str, StringConstraints(max_length=20_000)]
    #: Its text, whitespace collapsed: what a terminal speaks or shows.
    text: Annotated[str, StringConstraints(max_length=20_000)]
    #: The text of the element the catalog is attached to, when that is only a piece of the
    #: part (a word of the stem, an image's alt text); empty when it is the whole part.
    anchor: Annotated[str, StringConstraints(max_length=2_000)] = ""

    @field_validator("html")
    @classmethod
    def _well_formed(cls, html: str) -> str:
        # Written back into QTI as markup: it must parse (no DTD, no entities).
        try:
            SafeET.fromstring(f"<c>{html}</c>", forbid_dtd=True, forbid_entities=True)
        except Exception:
            raise ValueError("not well-formed XHTML") from None
        return html


class Item(BaseModel):
    """One test item: a stem, 2..8 options, and either a key or a weight per option."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: ItemId
    section: ShortName
    topic: Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)] = ""
    stem: NonEmptyText
    #: Option label -> Markdown text, in authored order.
    options: dict[OptionLabel, NonEmptyText]
    key: OptionLabel | None = None
    weights: dict[OptionLabel, float] | None = None
    difficulty: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = (
        None
    )
    irt: IrtParams | None = None
    #: Ids of items that give this one away; a form never holds both.
    enemies: tuple[ItemId, ...] = ()
    images: tuple[ImageAsset, ...] = ()
    #: Labels of options that keep their authored place when options are shuffled (QTI's
    #: ``fixed="true"``: "None of the above" stays last).
    fixed: tuple[OptionLabel, ...] = ()
    #: Accessibility supports (QTI catalog cards), in document order.
    catalog: tuple[CatalogCard, ...] = ()

    @field_validator("options")
    @classmethod
    def _option_count(cls, options: dict[str, str]) -> dict[str, str]:
        if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
            raise ValueError(
                f"an item needs {MIN_OPTIONS} to {MAX_OPTIONS} options, this one has {len(options)}"
            )
        return options

    @model_validator(mode="after")
    def _key_or_weights(self) -> Item:
        if (self.key is None) == (self.weights is None):
            raise ValueError("an item needs exactly one of 'key' or 'weights'")
        if self.key is not None and self.key not in self.options:
            raise ValueError(
                f"key {self.key!r} is not one of the options {', '.join(self.options)}"
            )
        if self.weights is not None:
            missing = [label for label in self.options if label not in self.weights]
            extra = [label for label in self.weights if label not in self.options]
            if missing or extra:
                parts = []
                if missing:
                    parts.append(f"no weight for option(s) {', '.join(missing)}")
                if extra:
                    parts.append(f"weight(s) for unknown option(s) {', '.join(extra)}")
                raise ValueError("; ".join(parts))
        unknown_fixed = [label for label in self.fixed if label not in self.options]
        if unknown_fixed:
            raise ValueError(f"fixed option(s) {', '.join(unknown_fixed)} are not options")
        if len(set(self.fixed)) != len(self.fixed):
            raise ValueError("an option is marked fixed twice")
        strays = sorted(
            {c.part for c in self.catalog if c.part.startswith("option:")}
            - {f"option:{label}" for label in self.options}
        )
        if strays:
            raise ValueError(f"catalog cards for unknown option(s): {', '.join(strays)}")
        if self.id in self.enemies:
            raise ValueError("an item cannot be its own enemy")
        names = [image.name for image in self.images]
        if len(names) != len(set(names)):
            raise ValueError("two images share one name")
        referenced = set(referenced_images(self.stem))
        for text in self.options.values():
            referenced.update(referenced_images(text))
        unknown = sorted(referenced - set(names))
        if unknown:
            raise ValueError(f"image(s) referenced but not embedded: {', '.join(unknown)}")
        return self

    @property
    def scoring(self) -> Literal["key", "weights"]:
        return "key" if self.key is not None else "weights"

    def meta(self) -> ItemMeta:
        """The content-free description of this item kept in a bank's index."""
        return ItemMeta(
            id=self.id,
            section=self.section,
            topic=self.topic,
            difficulty=self.difficulty,
            n_options=len(self.options),
            scoring=self.scoring,
            enemies=self.enemies,
            irt=self.irt,
            fixed=self.fixed_positions,
        )

    @property
    def fixed_positions(self) -> tuple[int, ...]:
        """Authored option numbers of the fixed options, ascending."""
        return tuple(i for i, label in enumerate(self.options) if label in self.fixed)

    def option_points(self, correct: float = 1.0, wrong: float = 0.0) -> dict[str, float]:
        """Points per option label: the weights, or ``correct``/``wrong`` around the key."""
        if self.weights is not None:
            return dict(self.weights)
        return {label: (correct if label == self.key else wrong) for label in self.options}


_IMAGE_REF = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def referenced_images(markdown: str) -> list[str]:
    """Names of the images a Markdown text points at (``![alt](name)``), data URIs excluded."""
    return [
        ref
        for ref in _IMAGE_REF.findall(markdown)
        if not ref.startswith(("data:", "http:", "https:"))
    ]
