"""Benchmarks of the data pipeline: pretraining data preparation and batch assembly, beside Hugging Face's tools."""
