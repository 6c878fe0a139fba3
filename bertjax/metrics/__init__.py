"""Task metrics, computed with scikit-learn, scipy, seqeval or the official evaluation rules."""
