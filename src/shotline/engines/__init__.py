"""Engines: what turns a planned request into frames and audio.

`base` and `specs` are plain Python (the API process plans and checks requests with them); the engine
implementations import torch and diffusers and are loaded only by a worker, through `registry`.
"""
