"""Input pipelines: tokenizer, pretraining examples, task readers, sources. They know nothing about models."""
