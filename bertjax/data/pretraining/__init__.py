"""Pretraining input: corpora read in pieces, prepared into shards, cut into instances, masked and packed into batches."""
