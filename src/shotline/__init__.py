"""Shotline: the Kling v3.0 Pro text-to-video API, self-hosted."""

__version__ = "0.1.0"
