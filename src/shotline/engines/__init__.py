"""Engines: what turns a planned request into frames and audio.

One folder per model family (`ltx2/`, `wan/`, `tiny/`), each with its spec and recipes (plain data), its
engine, and its tiny random-weight builder; `registry` lists the families, one line each. `base`, `specs`,
`weights` and every family's `spec` are plain Python (the API process plans and checks requests with them);
the engines import torch and diffusers and are loaded only by a worker, through `registry`. `pipelines` is
what the diffusers engines share; `audio` is the text-to-audio model of engines without joint sound.
"""
