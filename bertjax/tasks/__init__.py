"""Objectives: each task's loss (for training) and evaluation outputs, over a head's logits."""
