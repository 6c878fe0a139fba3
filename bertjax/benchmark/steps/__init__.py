"""The model's steps measured side by side: pretraining, fine-tuning and inference of bertjax and of transformers'
PyTorch models on the same batches, with their FLOPs."""
