"""Where finished videos live, and the signed URLs that hand them out."""

from shotline.storage.local import LocalStorage

__all__ = ["LocalStorage"]
