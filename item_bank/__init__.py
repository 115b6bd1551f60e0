"""The item bank: the item model, import and export formats, and the encrypted .catbank file.

Plain data and cryptography only: nothing here imports Flask, a database or a socket.
"""

from item_bank.model import ImageAsset, IrtParams, Item, ItemMeta

__all__ = ["ImageAsset", "IrtParams", "Item", "ItemMeta"]
