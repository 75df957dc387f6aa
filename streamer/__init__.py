"""streamer: a real-time video pipeline of YAML graphs of stages run by ONNX Runtime."""

__version__ = "0.1.0"
