"""Python SDK for Shotline (and the hosted Kling v3.0 Pro text-to-video API it mirrors).

    from shotline.client import Shotline
    client = Shotline("http://127.0.0.1:8000", api_key="...")
    result = client.videos.create_and_poll(prompt="a red fox in snow", duration=5, sound=True)
    client.videos.download(result, "fox.mp4")

Imports only the wire schemas and the errors: no server code, no torch.
"""

from shotline.client.sdk import Shotline, Videos
from shotline.errors import ShotlineError

__all__ = ["Shotline", "ShotlineError", "Videos"]
