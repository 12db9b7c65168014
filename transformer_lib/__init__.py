"""transformer_lib: the Transformer of "Attention Is All You Need", built one part per notebook."""
