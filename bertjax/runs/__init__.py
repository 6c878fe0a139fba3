"""End-to-end runs behind the scripts: pretraining and fine-tuning from a run config."""
