"""The stream worker: a faust-streaming app that applies score events exactly once and maintains the boards."""
