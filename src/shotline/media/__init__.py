"""Media: mp4 writing with PyAV and audio joining with numpy. No torch here: the worker hands over
plain uint8 frames and float32 audio."""
