"""Training infrastructure shared by pretraining and fine-tuning."""
