"""The pipeline workload: bertjax.pipeline beside transformers.pipeline and sentence-transformers, on real texts."""
