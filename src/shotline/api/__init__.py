"""HTTP front: thin routes over `shotline.service`."""

from shotline.api.app import create_app

__all__ = ["create_app"]
