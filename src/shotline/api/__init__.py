"""HTTP front: one package per API (kling/ and openai/, each a serving module over the task service and a
thin router, as vLLM's entrypoints), their wire models in `shotline.protocol`, the shared pieces beside them
(errors: the one error mapping; openapi: the one source of error docs; limits, metrics, files, health, the
web playground), and the app that assembles them (app.py: `create_app`).
"""
