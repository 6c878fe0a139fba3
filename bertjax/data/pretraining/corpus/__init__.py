"""Reading a pretraining corpus: its sources and formats (text, one document a line, JSON lines, parquet, compressed,
tensorflow-datasets) read in bounded pieces, as documents of sentences."""
