"""Export to deployment formats: ONNX graphs for ONNX Runtime (``tacoglow.export.onnx``).

Importing this package imports nothing heavy; ``export_onnx`` needs torch, onnx and onnxruntime.
"""
