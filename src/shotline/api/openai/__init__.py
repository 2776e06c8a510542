"""The OpenAI video API (`/v1/videos`): its serving logic (serving.py) and routes (router.py); its wire
models are `shotline.protocol.openai`."""
