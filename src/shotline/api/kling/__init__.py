"""The Kling API: its serving logic (serving.py) and routes (router.py); its wire models are
`shotline.protocol.kling`."""
