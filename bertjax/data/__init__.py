"""Input pipelines. They know nothing about models.

`pretraining/`: how a corpus becomes pretraining batches. `finetuning/`: each task's readers and features. Here, what
both share: the tokenizer, record readers, length-bucketed batching, tensorflow-datasets loading, built-in data.
"""
