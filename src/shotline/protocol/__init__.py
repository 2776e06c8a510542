"""The wire formats: one module per API (kling.py: the hosted Kling API and Shotline's extensions;
openai.py: the OpenAI video API), as pydantic models. The server validates and documents requests with them
(api/), and the SDK (client/) builds and reads its calls with the very same models, so a request the SDK
accepts is one the server accepts. Plain pydantic: importing them pulls in no server code.
"""
