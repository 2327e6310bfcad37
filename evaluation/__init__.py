"""Answering questions (AR greedy decoding, LLaDA sampling) and scoring the answers."""
