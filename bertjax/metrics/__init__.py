"""Task metrics, computed with scikit-learn and scipy, or as seqeval and the official SQuAD scripts compute them."""
